"""`Frame`: one RGB image plus where it came from.

Loaders yield frames; pipelines consume them. A frame of a large raster is one window (tile)
with its offset in the full image, so nothing needs the whole image in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Frame:
    image: np.ndarray  # H x W x 3, uint8, RGB
    index: int = 0
    source: str = ""
    timestamp: float | None = None  # seconds from the start of the source
    offset: tuple[int, int] = (0, 0)  # (x, y) of this window in the full image
    full_size: tuple[int, int] | None = None  # (width, height) of the full image
    geo: dict[str, Any] | None = None  # geo transform, CRS, GPS
    meta: dict[str, Any] = field(default_factory=dict)  # EXIF, DICOM refs, ...

    def __post_init__(self) -> None:
        if self.image.ndim != 3 or self.image.shape[2] != 3 or self.image.dtype != np.uint8:
            raise ValueError(
                f"Frame.image must be HxWx3 uint8 RGB, got {self.image.shape} {self.image.dtype}"
            )

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)
