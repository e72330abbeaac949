"""The Florence-2 engine (`Engine`) and how a process gets its one engine (`load_engine`).

Importing this package does not import torch; loading a model does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from uffizi.engine.core import Engine
    from uffizi.settings import Settings

__all__ = ["Engine", "load_engine"]


def load_engine(settings: Settings) -> Engine:
    """The default `make_engine`: the core Florence-2 engine on `settings.model`."""
    from uffizi.engine.core import Engine
    from uffizi.engine.loading import load_model

    return Engine(load_model(settings.model, settings), settings)


def __getattr__(name: str) -> Any:
    if name == "Engine":
        from uffizi.engine.core import Engine

        return Engine
    raise AttributeError(name)
