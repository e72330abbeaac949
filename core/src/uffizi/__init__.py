"""Uffizi: Florence-2 as a platform.

What plugin authors and verticals may import lives here, and only here. Importing `uffizi`
is cheap: it loads neither torch nor any plugin; the names below are resolved on first use.

    from uffizi import hookimpl, Pipeline, Frame, FlorenceTask
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("uffizi")

_EXPORTS: dict[str, str] = {
    # contracts
    "Pipeline": "uffizi.pipeline",
    "RunContext": "uffizi.pipeline",
    "RunResult": "uffizi.pipeline",
    "Artifact": "uffizi.pipeline",
    "NoOptions": "uffizi.pipeline",
    "Loader": "uffizi.contracts",
    "Exporter": "uffizi.contracts",
    "AdapterSpec": "uffizi.contracts",
    "PromptPack": "uffizi.contracts",
    "Frame": "uffizi.frames",
    # tasks and results
    "FlorenceTask": "uffizi.tasks",
    "TaskInput": "uffizi.tasks",
    "ResultShape": "uffizi.tasks",
    "BUILTIN_TASKS": "uffizi.tasks",
    "get_task": "uffizi.tasks",
    "TaskResult": "uffizi.results",
    "Detection": "uffizi.results",
    "TaskRequest": "uffizi.engine.requests",
    # errors
    "UffiziError": "uffizi.errors",
    "InvalidInput": "uffizi.errors",
    "InvalidOptions": "uffizi.errors",
    "UnsupportedMedia": "uffizi.errors",
    "CorruptMedia": "uffizi.errors",
    "MediaTooLarge": "uffizi.errors",
    "Canceled": "uffizi.errors",
    # runtime
    "Settings": "uffizi.settings",
    "get_settings": "uffizi.settings",
    "Platform": "uffizi.platform",
    "get_platform": "uffizi.platform",
    "load_image": "uffizi.media.images",
}

__all__ = ["__version__", "hookimpl", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'uffizi' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:  # pragma: no cover
    from uffizi.contracts import AdapterSpec, Exporter, Loader, PromptPack  # noqa: F401
    from uffizi.engine.requests import TaskRequest  # noqa: F401
    from uffizi.errors import (  # noqa: F401
        Canceled,
        CorruptMedia,
        InvalidInput,
        InvalidOptions,
        MediaTooLarge,
        UffiziError,
        UnsupportedMedia,
    )
    from uffizi.frames import Frame  # noqa: F401
    from uffizi.media.images import load_image  # noqa: F401
    from uffizi.pipeline import Artifact, NoOptions, Pipeline, RunContext, RunResult  # noqa: F401
    from uffizi.platform import Platform, get_platform  # noqa: F401
    from uffizi.results import Detection, TaskResult  # noqa: F401
    from uffizi.settings import Settings, get_settings  # noqa: F401
    from uffizi.tasks import BUILTIN_TASKS, FlorenceTask, ResultShape, TaskInput, get_task  # noqa: F401
