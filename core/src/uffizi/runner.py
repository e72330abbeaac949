"""Running a pipeline on local inputs: sniff, load frames, run, call the job hooks.

`run_pipeline` is the one function that runs a pipeline; the CLI calls it directly and the job
runners (in-process threads, Celery workers) call it for each job. It never holds more than the
frame being processed: frames are pulled lazily from the loaders, one input after another.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from uffizi.errors import UffiziError, UnsupportedMedia
from uffizi.frames import Frame
from uffizi.pipeline import Pipeline, RunContext, RunResult
from uffizi.platform import Platform

log = logging.getLogger(__name__)


class FrameStream:
    """The frames of several inputs, loaded lazily; `total` is known when every loader can
    count its frames without decoding (`count(path)`), else None."""

    def __init__(self, platform: Platform, inputs: list[tuple[Path, Any, str]], options: Any) -> None:
        self.platform, self.inputs, self.options = platform, inputs, options
        counts = [getattr(loader, "count", lambda p: None)(path) for path, loader, _ in inputs]
        self.total: int | None = None if any(c is None for c in counts) else sum(counts)

    def __iter__(self) -> Iterator[Frame]:
        for i, (path, loader, media_type) in enumerate(self.inputs):
            for frame in loader.load(path, options=self.options, settings=self.platform.settings):
                frame.meta.setdefault("input", i)
                frame.meta.setdefault("media_type", media_type)
                yield frame


def resolve_inputs(platform: Platform, pipeline: Pipeline, paths: list[Path]) -> list[tuple[Path, Any, str]]:
    """Sniff every input before anything runs, so a bad file fails the run at once."""
    resolved = []
    for path in paths:
        loader, media_type = platform.sniff(path)
        if not pipeline.accepts(media_type):
            raise UnsupportedMedia(
                f"{path.name} is {media_type}; {pipeline.id} accepts {', '.join(pipeline.media_types)}"
            )
        resolved.append((Path(path), loader, media_type))
    return resolved


def run_pipeline(
    platform: Platform, pipeline_ref: str, inputs: list[Path], options: dict | Any = None, *,
    ctx: RunContext | None = None, job: Any = None,
    on_progress: Callable[[float, int, int | None], None] | None = None,
) -> RunResult:
    pipeline = platform.get_pipeline(pipeline_ref)
    opts = pipeline.parse_options(options)
    resolved = resolve_inputs(platform, pipeline, [Path(p) for p in inputs])
    ctx = ctx or RunContext(pipeline.id, on_progress=on_progress)
    ctx.result.inputs = [str(p) for p, _, _ in resolved]
    frames = FrameStream(platform, resolved, opts)
    platform.notify("before_job_run", job=job, pipeline=pipeline, options=opts)
    try:
        pipeline.run(frames, engine=platform.engine(), options=opts, ctx=ctx)
    except Exception as exc:
        platform.notify("on_job_error", job=job, pipeline=pipeline, error=exc)
        if not isinstance(exc, UffiziError):
            log.exception("pipeline %s failed", pipeline.id)
        raise
    platform.notify("after_job_run", job=job, pipeline=pipeline, result=ctx.result)
    return ctx.result
