"""Pipelines and plugins the job runner tests register (imported by the tests, the conftest and
the child processes of tests/core/jobs/hold_worker.py).

`test/frames@v1` loops over its frames, calls `ctx.check_cancel()` before each, runs the real
engine (`<CAPTION>`) on it, appends a record and reports progress; options make it sleep
between frames, pause after frame N until the run is canceled (setting `PAUSED` first), or
raise after frame N. `test/stream@v1` is the same but `streaming` (no timeout applies).
`HangBeforeRun` blocks in `before_job_run` (after it prints "hanging"): a runner stuck in a job.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from pydantic import BaseModel, ConfigDict

from uffizi import Pipeline, hookimpl

PAUSED = threading.Event()


class FramesOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sleep_s: float = 0.0
    pause_after: int | None = None
    raise_after: int | None = None


class FramesPipeline(Pipeline):
    name = "test/frames"
    version = 1
    options_model = FramesOptions
    media_types = ("image/*",)

    def run(self, frames: Any, *, engine: Any, options: FramesOptions, ctx: Any) -> None:
        total = getattr(frames, "total", None)
        for done, frame in enumerate(frames, start=1):
            ctx.check_cancel()
            result = engine.run(frame.image, "<CAPTION>")
            ctx.append({"input": frame.meta.get("input"), "frame": frame.index, "text": result.text})
            ctx.progress(done, total)
            if options.raise_after == done:
                raise RuntimeError("boom in /home/patient-jane-doe/scan.dcm")
            if options.pause_after == done:
                PAUSED.set()
                deadline = time.monotonic() + 20
                while not ctx.canceled and time.monotonic() < deadline:
                    time.sleep(0.02)
            time.sleep(options.sleep_s)
        ctx.add_artifact("summary.txt", data=f"{total} frames".encode(), media_type="text/plain")


class StreamPipeline(FramesPipeline):
    name = "test/stream"
    streaming = True


class TestPipelines:
    """The plugin: registers both pipelines."""

    __name__ = "test_pipelines"

    @hookimpl
    def register_pipelines(self, register):
        register(FramesPipeline())
        register(StreamPipeline())


class HangBeforeRun:
    """A plugin that makes every job hang once it is running (until the process is killed)."""

    __name__ = "hang_before_run"

    @hookimpl
    def before_job_run(self, job, pipeline, options):
        print("hanging", job.id, job.attempts, flush=True)
        sys.stdout.flush()
        time.sleep(3600)
