"""The `json` exporter: the whole run result as one `result.json`.

The document (schema `uffizi-result@v1`) has `pipeline`, `inputs`, `records`, `warnings` and
`artifacts` (name, media type and size in bytes of each; the files themselves are not
inlined). It is pretty-printed UTF-8 with sorted keys, so the same result always gives the
same bytes. Values are made JSON-safe: numpy scalars and arrays become numbers and lists,
tuples lists, paths strings, pydantic models their JSON dump, and NaN / infinity `null`
(JSON has neither). Anything else that is not JSON is a `TypeError` naming where it is.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from pathlib import Path, PurePath
from typing import Any, ClassVar

import numpy as np

from uffizi.contracts import Exporter
from uffizi.pipeline import RunResult

__all__ = ["JsonExporter", "SCHEMA", "result_document", "dumps"]

SCHEMA = "uffizi-result@v1"


def _plain(value: Any, where: str) -> Any:
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        return _plain(value.item(), where)
    if isinstance(value, np.ndarray):
        return _plain(value.tolist(), where)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted((_plain(v, where) for v in value), key=repr)
    if hasattr(value, "model_dump"):
        return _plain(value.model_dump(mode="json"), where)
    raise TypeError(f"{where} is a {type(value).__name__}, which has no JSON form")


def _artifact_size(artifact: Any) -> int | None:
    if artifact.data is not None:
        return len(artifact.data)
    try:
        return Path(artifact.path).stat().st_size
    except (OSError, TypeError):
        return None


def result_document(result: RunResult) -> dict[str, Any]:
    """The JSON-safe document of one run result."""
    return {
        "schema": SCHEMA,
        "pipeline": result.pipeline,
        "inputs": _plain(list(result.inputs), "inputs"),
        "records": _plain(list(result.records), "records"),
        "warnings": [str(w) for w in result.warnings],
        "artifacts": [
            {"name": a.name, "media_type": a.media_type, "size": _artifact_size(a)}
            for a in result.artifacts
        ],
    }


def dumps(document: Any) -> str:
    """Pretty, sorted, UTF-8-friendly JSON text (ends with a newline)."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def _write_atomically(path: Path, text: str) -> None:
    """Write then rename, so readers never see half a file (permissions follow the umask)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with tmp.open("x", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class JsonExporter(Exporter):
    """The run result as `result.json`: pipeline, inputs, records, warnings, artifacts."""

    format: ClassVar[str] = "json"
    media_type: ClassVar[str] = "application/json"
    description: ClassVar[str] = "The whole result as one JSON document (result.json)"
    filename: ClassVar[str] = "result.json"

    def export(self, result: RunResult, out_dir: Path, *, inputs: list[Path] | None = None) -> list[Path]:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / self.filename
        _write_atomically(path, dumps(result_document(result)))
        return [path]
