"""uffizi-example: the smallest complete Uffizi plugin that does something real.

It registers a prompt pack, `example/kitchen@v1` (kitchen classes mapped to Florence-2's
open-vocabulary detection), and a pipeline, `example/count@v1`, that counts those classes on
every frame. Uffizi finds it through the entry point `example` in the group `uffizi`.
"""

from __future__ import annotations

from uffizi import hookimpl

from uffizi_example.count import KITCHEN, CountPipeline

__version__ = "0.1.0"
__all__ = ["KITCHEN", "CountPipeline"]


@hookimpl
def register_prompts(register):
    register(KITCHEN)


@hookimpl
def register_pipelines(register):
    register(CountPipeline())
