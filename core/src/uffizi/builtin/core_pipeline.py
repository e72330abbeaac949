"""Built-in plugin: `core/florence@v1`, any Florence-2 task (or several) over images."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from uffizi import hookimpl
from uffizi.engine.requests import TaskRequest
from uffizi.pipeline import Pipeline, RunContext
from uffizi.tasks import TaskTable, builtin_table


class FlorenceOptions(BaseModel):
    """Options of `core/florence@v1`."""

    model_config = ConfigDict(extra="forbid")

    tasks: list[str] = Field(
        default_factory=lambda: ["<CAPTION>"],
        description="Task tokens or names; several tasks on one image share one image encoding",
        examples=[["<CAPTION>", "<OD>"]],
    )
    text: str | None = Field(None, description="Text input for tasks that need one")
    region: list[float] | None = Field(None, description="[x1, y1, x2, y2] in pixels")
    classes: list[str] | None = Field(
        None, description="Open-vocabulary classes: one <OPEN_VOCABULARY_DETECTION> per class"
    )
    max_new_tokens: int | None = Field(None, ge=1, le=4096)

    @model_validator(mode="after")
    def _check_inputs(self, info: ValidationInfo) -> FlorenceOptions:
        if not self.tasks:
            raise ValueError("tasks must name at least one task")
        table = (info.context or {}).get("tasks") or builtin_table()
        for req in self.requests(table):
            req.resolve(table)
        tasks = [table.get(t) for t in self.tasks]
        unused = [name for name, given, used in (
            ("text", self.text, any(t.needs_text for t in tasks)),
            ("region", self.region, any(t.needs_region for t in tasks)),
            ("classes", self.classes, any(t.token == "<OPEN_VOCABULARY_DETECTION>" for t in tasks)),
        ) if given and not used]
        if unused:
            raise ValueError(f"{', '.join(unused)} given but none of the tasks takes it")
        return self

    def requests(self, table: TaskTable | None = None) -> list[TaskRequest]:
        """One engine request per task (per class for open-vocabulary detection); `table` is
        the platform's task table, with plugins' custom tasks."""
        table = table or builtin_table()
        out = []
        for name in self.tasks:
            task = table.get(name)
            common = {"max_new_tokens": self.max_new_tokens}
            if task.token == "<OPEN_VOCABULARY_DETECTION>" and self.classes:
                out += [TaskRequest(task=task.token, text=c, **common) for c in self.classes]
            elif task.needs_text:
                out.append(TaskRequest(task=task.token, text=self.text, **common))
            elif task.needs_region:
                out.append(TaskRequest(task=task.token, region=self.region, **common))
            else:
                out.append(TaskRequest(task=task.token, **common))
        return out


class FlorencePipeline(Pipeline):
    name = "core/florence"
    version = 1
    title = "Florence-2 on images"
    description = ("Runs one or more Florence-2 tasks on every image; tasks on the same image "
                   "share one image encoding.")
    options_model = FlorenceOptions
    media_types = ("image/*",)

    def run(self, frames: Iterable[Any], *, engine: Any, options: FlorenceOptions,
            ctx: RunContext) -> None:
        requests = options.requests(getattr(engine, "tasks", None))
        total = getattr(frames, "total", None)
        for done, frame in enumerate(frames, start=1):
            ctx.check_cancel()
            results = engine.run_many(frame, requests)
            for r in results:
                for w in r.warnings:
                    ctx.warn(f"{frame.source or 'frame'} {r.task}: {w}")
            ctx.append({
                "input": frame.meta.get("input", 0), "frame": frame.index,
                "source": frame.source, "results": [r.model_dump(mode="json") for r in results],
            })
            ctx.progress(done, total)


    task_table: TaskTable | None = None  # the platform's, set at startup

    def validation_context(self) -> dict[str, Any] | None:
        return {"tasks": self.task_table} if self.task_table is not None else None


@hookimpl
def register_pipelines(register):
    register(FlorencePipeline())


@hookimpl
def startup(platform):
    """Custom tasks registered by plugins are valid `tasks` options too."""
    pipeline = platform.pipelines.get(f"{FlorencePipeline.name}@v{FlorencePipeline.version}")
    if isinstance(pipeline, FlorencePipeline):
        pipeline.task_table = platform.tasks
