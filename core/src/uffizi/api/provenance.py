"""A job's provenance, written once when it is submitted: what will run it and on what.

Pipeline name and version; the plugin that registered it and that plugin's distribution
version; the model id and revision (the loaded engine's when it is loaded, else the
settings'); the adapter and the prompt pack (resolved to `name@vN`) when the options name
them; the versions of uffizi, transformers and torch (read from the installed distributions'
metadata, so nothing is imported); the sha256 of every stored input.
"""

from __future__ import annotations

import importlib.metadata
from datetime import datetime, timezone
from functools import cache
from typing import Any

from uffizi.errors import UffiziError

_PROMPT_KEYS = ("prompt_pack", "prompts", "prompt_pack_version")


@cache
def dist_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _model(platform: Any) -> dict[str, Any]:
    settings = platform.settings
    info: dict[str, Any] = {"id": settings.model, "revision": settings.model_revision}
    if platform.engine_loaded:
        engine_info = getattr(platform.engine(), "info", None)
        if isinstance(engine_info, dict):
            info["id"] = engine_info.get("model") or info["id"]
            info["revision"] = engine_info.get("revision") or info["revision"]
            if engine_info.get("random_weights"):
                info["random_weights"] = True
    return info


def _prompt_pack(platform: Any, options: dict[str, Any]) -> str | None:
    for key in _PROMPT_KEYS:
        ref = options.get(key)
        if isinstance(ref, str) and ref:
            try:
                return platform.get_prompts(ref).id
            except UffiziError:
                return ref
    return None


def build(platform: Any, pipeline: Any, options: dict[str, Any], inputs: list[dict[str, Any]]) -> dict[str, Any]:
    owner = platform.owner_of("pipeline", pipeline.id)
    report = platform.report(owner) if owner else None
    adapter = options.get("adapter") if isinstance(options.get("adapter"), str) else None
    return {
        "pipeline": {"id": pipeline.id, "name": pipeline.name, "version": pipeline.version},
        "plugin": {"name": owner, "distribution": getattr(report, "dist", None),
                   "version": getattr(report, "version", None)},
        "model": _model(platform),
        "adapter": adapter,
        "prompt_pack": _prompt_pack(platform, options),
        "versions": {name: dist_version(name) for name in ("uffizi", "transformers", "torch")},
        "inputs": [{"name": i["name"], "sha256": i["sha256"]} for i in inputs],
        "submitted_at": datetime.now(timezone.utc).isoformat(),
    }
