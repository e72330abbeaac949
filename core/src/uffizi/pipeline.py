"""The Pipeline contract and what a running pipeline talks to.

A `Pipeline` is what a job runs. It is registered by a plugin under `vertical/name` with an
integer version (`vertical/name@vN`); it declares its options model, the media types it
accepts and whether it is streaming, and implements `run(frames, *, engine, options, ctx)`.
`RunContext` is how a run reports progress, checks for cancel, appends results, adds
artifacts and warns; `RunResult` is what it leaves behind.
"""

from __future__ import annotations

import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from uffizi.errors import Canceled, InvalidOptions

if TYPE_CHECKING:
    from uffizi.frames import Frame

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*/[a-z0-9][a-z0-9_.-]*$")


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Pipeline(ABC):
    """Subclass, set the class attributes, implement `run`."""

    name: ClassVar[str]  # "vertical/name"
    version: ClassVar[int] = 1
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    options_model: ClassVar[type[BaseModel]] = NoOptions
    media_types: ClassVar[tuple[str, ...]] = ("image/*",)
    streaming: ClassVar[bool] = False

    @property
    def id(self) -> str:
        return f"{self.name}@v{self.version}"

    def accepts(self, media_type: str) -> bool:
        major = media_type.split("/", 1)[0]
        return any(m == media_type or m == "*/*" or m == f"{major}/*" for m in self.media_types)

    def parse_options(self, options: dict[str, Any] | BaseModel | None) -> BaseModel:
        """Validate options against the pipeline's model; errors name the field path."""
        if isinstance(options, self.options_model):
            return options
        if isinstance(options, BaseModel):
            options = options.model_dump()
        try:
            return self.options_model.model_validate(options or {}, context=self.validation_context())
        except ValidationError as exc:
            errors = [
                {"field": ".".join(str(p) for p in e["loc"]) or "(options)", "message": e["msg"]}
                for e in exc.errors()
            ]
            summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
            raise InvalidOptions(
                f"invalid options for {self.id}: {summary}", details={"errors": errors}
            ) from None

    def validation_context(self) -> dict[str, Any] | None:
        """Passed to the options model's validators as `info.context` (e.g. the platform's
        task table, so custom tasks validate). None by default."""
        return None

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "title": self.title,
            "description": self.description,
            "media_types": list(self.media_types),
            "streaming": self.streaming,
            "options_schema": self.options_model.model_json_schema(),
        }

    @abstractmethod
    def run(self, frames: Iterable[Frame], *, engine: Any, options: Any, ctx: RunContext) -> None:
        """Consume frames, call the engine, report through ctx."""


def check_pipeline_name(name: str) -> None:
    if not _NAME_RE.match(name):
        raise ValueError(f"pipeline name {name!r} must look like 'vertical/name' (lowercase)")


@dataclass
class Artifact:
    name: str
    media_type: str
    data: bytes | None = None
    path: Path | None = None


@dataclass
class RunResult:
    """What a pipeline run produced: result records (JSON-able dicts), artifacts, warnings."""

    pipeline: str
    records: list[dict[str, Any]] = field(default_factory=list)
    artifacts: list[Artifact] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)


class RunContext:
    """Handed to `Pipeline.run`. Thread-safe; subclasses (the job runner) persist as it goes.

    - `progress(done, total)` reports progress (fraction done = done / total when total known);
    - `check_cancel()` raises `Canceled` when the run was asked to stop (call between frames);
    - `append(record)` adds one JSON-able result record;
    - `add_artifact(name, data=..., media_type=...)` adds a file (bytes or a path);
    - `warn(message)` records a warning on the result.
    """

    def __init__(
        self,
        pipeline: str,
        *,
        on_progress: Callable[[float, int, int | None], None] | None = None,
        cancel_event: threading.Event | None = None,
    ) -> None:
        self.result = RunResult(pipeline=pipeline)
        self._lock = threading.Lock()
        self._on_progress = on_progress
        self._cancel = cancel_event or threading.Event()
        self.progress_value = 0.0

    def progress(self, done: int, total: int | None = None) -> None:
        frac = min(1.0, done / total) if total else 0.0
        self.progress_value = frac
        if self._on_progress:
            self._on_progress(frac, done, total)

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def canceled(self) -> bool:
        return self._cancel.is_set()

    def check_cancel(self) -> None:
        if self._cancel.is_set():
            raise Canceled("the job was canceled")

    def append(self, record: dict[str, Any]) -> None:
        with self._lock:
            self.result.records.append(record)

    def add_artifact(
        self, name: str, *, data: bytes | None = None, path: Path | None = None,
        media_type: str = "application/octet-stream",
    ) -> None:
        if (data is None) == (path is None):
            raise ValueError("add_artifact needs exactly one of data= or path=")
        with self._lock:
            self.result.artifacts.append(Artifact(name, media_type, data, path))

    def warn(self, message: str) -> None:
        with self._lock:
            if message not in self.result.warnings:
                self.result.warnings.append(message)
