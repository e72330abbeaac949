"""`TaskRequest`: one task to run on one image, validated against the task table."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from uffizi.errors import InvalidRegion, MissingTaskInput
from uffizi.tasks import FlorenceTask, TaskTable, builtin_table


class TaskRequest(BaseModel):
    task: str = Field(..., description="Task token (<OD>) or name (object-detection)")
    text: str | None = Field(None, description="Text input for tasks that need one")
    region: list[float] | None = Field(
        None, description="[x1, y1, x2, y2] in image pixels, for region tasks"
    )
    max_new_tokens: int | None = Field(None, ge=1, le=4096)
    min_new_tokens: int | None = Field(None, ge=0, le=4096)
    adapter: str | None = None

    @field_validator("region")
    @classmethod
    def _four_numbers(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and len(v) != 4:
            raise ValueError("region must be four numbers [x1, y1, x2, y2] in pixels")
        return v

    def resolve(self, table: TaskTable | None = None) -> FlorenceTask:
        """The task row, after checking this request gives exactly the input the task needs."""
        task = (table or builtin_table()).get(self.task)
        if task.needs_text and not (self.text and self.text.strip()):
            raise MissingTaskInput(f"task {task.token} needs text: pass --text / \"text\"")
        if task.needs_region and self.region is None:
            raise MissingTaskInput(
                f"task {task.token} needs a region: pass --region x1,y1,x2,y2 in pixels"
            )
        if not task.needs_text and self.text:
            raise MissingTaskInput(f"task {task.token} takes no text; drop the text input")
        if not task.needs_region and self.region is not None:
            raise MissingTaskInput(f"task {task.token} takes no region; drop the region input")
        return task

    def check_region(self, size: tuple[int, int]) -> list[float]:
        """The region clipped to the image; refuse boxes that are inverted or fall outside."""
        assert self.region is not None
        w, h = size
        x1, y1, x2, y2 = self.region
        if not (x2 > x1 and y2 > y1):
            raise InvalidRegion(f"region {self.region} must have x2 > x1 and y2 > y1")
        if x2 <= 0 or y2 <= 0 or x1 >= w or y1 >= h:
            raise InvalidRegion(f"region {self.region} lies outside the {w}x{h} image")
        return [max(0.0, x1), max(0.0, y1), min(float(w), x2), min(float(h), y2)]
