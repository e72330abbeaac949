"""What a loadable Florence-2 checkpoint folder contains, and the checks that say so.

One place knows the files the native transformers classes need (a config, weights, a
tokenizer, a processor config) and how a remote-code `microsoft/Florence-2-*` folder looks, so
`resolve_model`, `uffizi model import` and the doctor all report the same missing files with
the same words.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from uffizi.errors import ModelLoadError, RemoteCodeModel

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "vocab.json")  # a fast tokenizer, or BPE vocab + merges
PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json")
REMOTE_CODE_FILES = ("modeling_florence2.py", "configuration_florence2.py", "processing_florence2.py")

_MICROSOFT = re.compile(r"^microsoft/Florence-2-(base|large)(-ft)?$", re.IGNORECASE)


def native_counterpart(repo_id: str) -> str | None:
    """`florence-community/Florence-2-large` for `microsoft/Florence-2-large`, else None."""
    match = _MICROSOFT.match(repo_id.strip())
    if not match:
        return None
    return f"florence-community/Florence-2-{match.group(1).lower()}{(match.group(2) or '').lower()}"


def guess_counterpart(config: dict[str, Any]) -> str | None:
    """The native conversion of a remote-code config: by its recorded hub name, else by size."""
    named = native_counterpart(str(config.get("_name_or_path") or ""))
    if named:
        return named
    vision = config.get("vision_config") or {}
    dims = vision.get("dim_embed") or vision.get("embed_dim") or []
    size = {128: "base", 256: "large"}.get(dims[0] if dims else None)
    return f"florence-community/Florence-2-{size}" if size else None


def remote_code_error(source: str, counterpart: str | None = None) -> RemoteCodeModel:
    counterpart = counterpart or native_counterpart(source)
    hint = (f"use {counterpart!r}, its conversion to the native classes" if counterpart else
            "use a florence-community/Florence-2-* checkpoint (the native conversions), or "
            "convert it with transformers' convert_florence2_original_pytorch_to_hf.py")
    return RemoteCodeModel(
        f"{source!r} is a remote-code Florence-2 checkpoint (trust_remote_code), which the "
        f"native transformers classes Uffizi uses cannot load; {hint}",
        details={"source": source, "counterpart": counterpart},
    )


def read_config(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((Path(folder) / "config.json").read_text())
    except (OSError, ValueError):
        return None


def is_remote_code(folder: Path, config: dict[str, Any] | None = None) -> bool:
    """True for a folder in the original `microsoft/Florence-2-*` format (custom code)."""
    folder = Path(folder)
    config = config if config is not None else read_config(folder)
    if config is None:
        return False
    vision_type = (config.get("vision_config") or {}).get("model_type")
    if "auto_map" in config or vision_type == "davit":
        return True
    return config.get("model_type") == "florence2" and any(
        (folder / name).exists() for name in REMOTE_CODE_FILES
    )


def missing_files(folder: Path) -> list[str]:
    """The files (or alternatives, `a or b`) a loadable checkpoint needs and `folder` lacks."""
    folder = Path(folder)
    missing = []
    if not (folder / "config.json").is_file():
        missing.append("config.json")
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        missing.append("model.safetensors (weights)")
    else:
        missing += [f"{shard} (weights shard)" for shard in _missing_shards(folder)]
    if not (folder / "tokenizer.json").is_file():
        if not (folder / "vocab.json").is_file():
            missing.append("tokenizer.json (tokenizer)")
        elif not (folder / "merges.txt").is_file():
            missing.append("merges.txt (tokenizer)")
    if not any((folder / name).is_file() for name in PROCESSOR_FILES):
        missing.append("processor_config.json (processor)")
    return missing


def _missing_shards(folder: Path) -> list[str]:
    for index in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        path = folder / index
        if path.is_file() and not (folder / index.replace(".index.json", "")).is_file():
            try:
                shards = sorted(set(json.loads(path.read_text())["weight_map"].values()))
            except (OSError, ValueError, KeyError):
                return [f"{index} is unreadable"]
            return [s for s in shards if not (folder / s).is_file()]
    return []


def check_folder(folder: Path, source: str | None = None) -> None:
    """Raise `RemoteCodeModel` or `ModelLoadError` (listing exactly what is missing) unless
    `folder` is a checkpoint the native classes can load."""
    folder = Path(folder)
    label = source or str(folder)
    if not folder.is_dir():
        raise ModelLoadError(f"{label!r} is not a folder")
    config = read_config(folder)
    if is_remote_code(folder, config):
        raise remote_code_error(label, guess_counterpart(config or {}))
    missing = missing_files(folder)
    if missing:
        raise ModelLoadError(
            f"model folder {str(folder)!r} is incomplete; missing: {', '.join(missing)}. "
            "Copy the whole checkpoint (e.g. `uffizi model pull ID` on a connected machine) "
            "or rebuild a random one with `uffizi model make-tiny DIR`",
            details={"path": str(folder), "missing": missing},
        )
    if config is None:
        raise ModelLoadError(f"{str(folder / 'config.json')!r} is not valid JSON")
    if config.get("model_type") != "florence2":
        raise ModelLoadError(
            f"{label!r} is a {config.get('model_type')!r} model, not Florence-2 "
            "(config.json model_type must be 'florence2')",
            details={"path": str(folder), "model_type": config.get("model_type")},
        )


def checkpoint_files(folder: Path) -> list[Path]:
    """Every file of a checkpoint folder, sorted, hub download metadata (.cache) left out."""
    folder = Path(folder)
    return sorted(
        p for p in folder.rglob("*")
        if p.is_file() and not p.relative_to(folder).parts[0].startswith(".cache")
    )
