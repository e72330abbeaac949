"""The one result schema every Florence-2 task returns.

Whatever the task, the engine answers a `TaskResult`: the task token, the text (the cleaned
answer for text tasks, the raw decoded sequence otherwise), a list of `Detection`s in the
original image's pixels (boxes xyxy, polygons as flat [x1, y1, x2, y2, ...] lists, OCR quads as
8 numbers), each with a score in [0, 1], plus the image size, timings, which model and adapter
answered, and warnings when the output looks degenerate.

Scores: a detection's score is the geometric mean of the probabilities the model gave to the
tokens that produced it (its label tokens and its location tokens); the text score is the
geometric mean over every generated token up to and including the end token. See
`uffizi.engine.parsing`.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class Detection(BaseModel):
    label: str = Field("", description="Class, phrase or OCR text; empty for region proposals")
    bbox: list[float] | None = Field(None, description="[x1, y1, x2, y2] in image pixels")
    polygons: list[list[float]] | None = Field(
        None, description="Polygons, each a flat [x1, y1, x2, y2, ...] list in image pixels"
    )
    quad: list[float] | None = Field(None, description="OCR quadrilateral, 8 numbers, pixels")
    score: float = Field(..., ge=0.0, le=1.0, description="Confidence from token probabilities")


class Timings(BaseModel):
    vision_ms: float = 0.0
    decode_ms: float = 0.0
    queue_ms: float = 0.0
    total_ms: float = 0.0
    batch_size: int = 1


class TaskResult(BaseModel):
    task: str = Field(..., description="The Florence-2 task token, e.g. <OD>")
    text: str = Field("", description="The answer for text tasks; the decoded sequence otherwise")
    text_score: float = Field(0.0, ge=0.0, le=1.0)
    detections: list[Detection] = Field(default_factory=list)
    image_size: tuple[int, int] = Field(..., description="(width, height) of the input image")
    prompt_text: str | None = Field(None, description="The task's text input, if any")
    region: list[float] | None = Field(None, description="The task's region input, if any")
    timings: Timings = Field(default_factory=Timings)
    model: str = ""
    model_revision: str | None = None
    adapter: str | None = None
    warnings: list[str] = Field(default_factory=list)
    tokens: int = Field(0, description="Generated tokens, end token included")

    @property
    def ok(self) -> bool:
        return not self.warnings
