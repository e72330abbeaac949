"""`example/count@v1`: how many of each class are on each frame.

For every frame the pipeline asks the engine one open-vocabulary detection per class, all in
one `run_many` call (the image is encoded once), and appends a record with the counts. The
classes default to the `example/kitchen@v1` prompt pack; a class that is not in the pack is
detected by its own name.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sized

from pydantic import BaseModel, ConfigDict, Field, field_validator
from uffizi import Frame, Pipeline, PromptPack, RunContext, TaskRequest

OVD = "<OPEN_VOCABULARY_DETECTION>"

KITCHEN = PromptPack(
    name="example/kitchen",
    version=1,
    prompts={
        "cup": (OVD, "cup"),
        "knife": (OVD, "knife"),
        "fork": (OVD, "fork"),
        "plate": (OVD, "plate"),
        "bottle": (OVD, "bottle"),
    },
    description="Things on a kitchen counter, found with open-vocabulary detection.",
)


class CountOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    classes: list[str] = Field(
        default_factory=lambda: list(KITCHEN.prompts),
        min_length=1,
        max_length=32,
        description=f"Classes to count; the default is the {KITCHEN.id} pack",
    )
    min_score: float = Field(0.0, ge=0.0, le=1.0, description="Ignore detections scored below this")

    @field_validator("classes")
    @classmethod
    def _clean(cls, classes: list[str]) -> list[str]:
        cleaned = list(dict.fromkeys(c.strip() for c in classes))
        if "" in cleaned:
            raise ValueError("class names must not be empty")
        return cleaned


class CountPipeline(Pipeline):
    name = "example/count"
    version = 1
    title = "Count objects"
    description = "Counts each class on every frame (open-vocabulary detection, one task per class)."
    options_model = CountOptions
    media_types = ("image/*", "video/*")

    def requests(self, classes: list[str]) -> list[TaskRequest]:
        """One engine request per class: the pack's task and text, or the class name itself."""
        return [
            TaskRequest(task=task, text=text)
            for task, text in (KITCHEN.prompts.get(c, (OVD, c)) for c in classes)
        ]

    def run(self, frames: Iterable[Frame], *, engine, options: CountOptions, ctx: RunContext) -> None:
        requests = self.requests(options.classes)
        # the runner's frame stream says how many frames are coming (`total`); a list has a len
        total = getattr(frames, "total", None)
        if total is None and isinstance(frames, Sized):
            total = len(frames)
        rows = []
        for i, frame in enumerate(frames):
            ctx.check_cancel()
            results = engine.run_many(frame.image, requests)
            counts = {
                cls: sum(1 for d in result.detections if d.score >= options.min_score)
                for cls, result in zip(options.classes, results, strict=True)
            }
            ctx.append({
                "frame": frame.index,
                "source": frame.source,
                "timestamp": frame.timestamp,
                "counts": counts,
                "total": sum(counts.values()),
            })
            rows.append([frame.index, *counts.values()])
            ctx.progress(i + 1, total)

        table = io.StringIO()
        writer = csv.writer(table, lineterminator="\n")
        writer.writerow(["frame", *options.classes])
        writer.writerows(rows)
        ctx.add_artifact("counts.csv", data=table.getvalue().encode(), media_type="text/csv")
