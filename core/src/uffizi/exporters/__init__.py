"""Exporters: a run's result as files. `json` (the whole result) and `png` (detections drawn on
each input image); `annotate` is the drawing function they and the CLI share.

Importing this package imports nothing heavy; the names below load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "JsonExporter": "uffizi.exporters.json_export",
    "AnnotatedImageExporter": "uffizi.exporters.png_export",
    "annotate": "uffizi.exporters.annotate",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'uffizi.exporters' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
