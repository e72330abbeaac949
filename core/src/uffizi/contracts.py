"""The other things plugins register: loaders, exporters, adapters and prompt packs."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from uffizi.frames import Frame
    from uffizi.pipeline import RunResult
    from uffizi.settings import Settings


class Loader(ABC):
    """Turns one input (a file) into frames. Chosen by content, never by file extension."""

    name: ClassVar[str]
    media_types: ClassVar[tuple[str, ...]]  # what it produces frames from, e.g. ("image/png",)

    @abstractmethod
    def sniff(self, head: bytes, name: str = "") -> str | None:
        """Return the media type if these first bytes (at least 64) are this loader's format."""

    @abstractmethod
    def load(self, path: Path, *, options: Any = None, settings: Settings) -> Iterator[Frame]:
        """Yield the frames of one input. Raise `UffiziError`s for bad input."""


class Exporter(ABC):
    """Turns a run's result into one format (json, png, geojson, csv, ...)."""

    format: ClassVar[str]
    media_type: ClassVar[str]
    description: ClassVar[str] = ""

    @abstractmethod
    def export(self, result: RunResult, out_dir: Path, *, inputs: list[Path] | None = None) -> list[Path]:
        """Write this format's files for `result` into `out_dir`; return the paths written.
        `inputs` are the run's input files (for exporters that draw on the images)."""


@dataclass(frozen=True)
class AdapterSpec:
    name: str
    path: str
    base_model: str
    vertical: str | None = None
    tasks: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class PromptPack:
    """Class name -> (task token, text). Versioned: `name@vN`."""

    name: str
    version: int
    prompts: dict[str, tuple[str, str]] = field(default_factory=dict)
    description: str = ""

    @property
    def id(self) -> str:
        return f"{self.name}@v{self.version}"
