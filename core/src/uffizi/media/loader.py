"""`ImageLoader`: the built-in loader for still images (PNG, JPEG, WebP, TIFF, BMP, GIF).

It claims an input by its magic bytes and yields `Frame`s decoded in the sandbox. One frame
per image, except multi-page TIFF (scanned documents, microscopy stacks): every page is a
frame (`index` = page number), each page decoded in its own sandboxed child, so only one page
is in memory at a time. Animated GIF and WebP give their first frame only (their meta says
`animated` and how many frames there are); video belongs to video loaders.

Frame meta: `format`, `media_type`, the original `mode` and `size` (before the EXIF rotation),
`pages`, `page`, `exif` (camera, datetimes, GPS) and `orientation` when the image was rotated.
GPS, when present, is also the frame's `geo` (`{"gps": {"lat", "lon", "alt"}}`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from uffizi.contracts import Loader
from uffizi.frames import Frame
from uffizi.media.images import IMAGE_MEDIA_TYPES, count_pages, decode_image, sniff_image

if TYPE_CHECKING:
    import numpy as np

    from uffizi.settings import Settings

__all__ = ["ImageLoader", "frame_from_decoded"]


def frame_from_decoded(array: np.ndarray, meta: dict[str, Any], *, source: str) -> Frame:
    """The `Frame` for one decoded page: its index is the page number."""
    gps = meta.get("exif", {}).get("gps")
    return Frame(
        image=array,
        index=int(meta.get("page", 0)),
        source=source,
        full_size=(int(array.shape[1]), int(array.shape[0])),
        geo={"gps": dict(gps)} if gps else None,
        meta=dict(meta),
    )


class ImageLoader(Loader):
    """Still images, sniffed by content, decoded in the sandbox; every TIFF page a frame."""

    name: ClassVar[str] = "image"
    media_types: ClassVar[tuple[str, ...]] = IMAGE_MEDIA_TYPES

    def sniff(self, head: bytes, name: str = "") -> str | None:
        return sniff_image(head)

    def count(self, path: Path) -> int:
        """How many frames `load` yields: 1, or the page count of a TIFF (read in the sandbox)."""
        with Path(path).open("rb") as f:
            head = f.read(32)
        if sniff_image(head) != "image/tiff":
            return 1
        return count_pages(path)

    def load(self, path: Path, *, options: Any = None, settings: Settings) -> Iterator[Frame]:
        path = Path(path)
        array, meta = decode_image(path, settings=settings)
        yield frame_from_decoded(array, meta, source=path.name)
        if meta.get("format") != "TIFF":
            return
        for page in range(1, int(meta.get("pages", 1))):
            array, page_meta = decode_image(path, settings=settings, page=page)
            yield frame_from_decoded(array, page_meta, source=path.name)
