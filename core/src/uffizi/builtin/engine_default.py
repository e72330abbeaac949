"""Built-in plugin: the default `make_engine`, the core Florence-2 engine.

It is `trylast`, so any plugin that returns an engine (a scripted engine for tests, a remote
engine) wins. The engine module is imported inside the hook: loading plugins imports no torch.
"""

from __future__ import annotations

from uffizi import hookimpl


@hookimpl(trylast=True)
def make_engine(settings):
    from uffizi.engine import load_engine

    return load_engine(settings)
