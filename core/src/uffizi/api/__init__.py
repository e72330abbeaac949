"""The REST API (FastAPI): `create_app()` in `uffizi.api.app`; `uffizi serve` runs it.

Importing this package imports neither FastAPI nor torch; `uffizi.api.app` imports FastAPI,
and the engine loads when the app starts (in a background thread) or on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def create_app(*args: Any, **kwargs: Any) -> Any:
    from uffizi.api.app import create_app as make

    return make(*args, **kwargs)
