"""Images in: sniff the format by magic bytes, decode untrusted bytes in the sandbox, give RGB.

- `sniff_image(head)` names the media type from the first bytes (never the file name):
  PNG, JPEG, WebP, TIFF, BMP, GIF.
- `decode_image(source, settings=..., page=0)` decodes a path or bytes in the sandboxed child
  (`uffizi.media.sandbox`) and returns an H x W x 3 uint8 RGB array and its meta: format, the
  original mode and size, page count, EXIF summary (camera, datetimes, GPS).
- `load_image(source)` is the convenient form: a path, bytes, a PIL image or a numpy array in,
  an RGB `PIL.Image` out.

What is refused, and how: not an image -> `UnsupportedMedia` listing the formats; more pixels
than `max_image_pixels` -> `MediaTooLarge` before any pixel is decoded; truncated or damaged
-> `CorruptMedia`; too slow or too hungry -> `MediaTooLarge` naming the setting. The EXIF
orientation is applied. Multi-page TIFF and animated GIF/WebP give their first page/frame
here (`page=` picks another; the image loader yields every TIFF page as a frame).

PIL images and numpy arrays are already decoded in this process: they are trusted and
converted in-process (the pixel limit still applies). Open untrusted files through a path or
bytes, never with `PIL.Image.open` first.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageOps

from uffizi.errors import InvalidInput, UnsupportedMedia
from uffizi.media.decode import (
    PIL_FORMATS,
    count_in_child,
    decode_in_child,
    pixel_limit_error,
    to_rgb,
)
from uffizi.media.sandbox import run_limited

if TYPE_CHECKING:
    from uffizi.settings import Settings

__all__ = [
    "IMAGE_MEDIA_TYPES", "ImageSource", "sniff_image", "decode_image", "count_pages",
    "load_image", "array_to_rgb",
]

IMAGE_MEDIA_TYPES: tuple[str, ...] = tuple(PIL_FORMATS)
_NAMES = "PNG, JPEG, WebP, TIFF, BMP, GIF"
_BMP_HEADER_SIZES = {12, 16, 40, 52, 56, 64, 108, 124}

ImageSource = str | os.PathLike | bytes | bytearray | memoryview | Image.Image | np.ndarray


def sniff_image(head: bytes) -> str | None:
    """The media type these first bytes start (`image/png`, ...), or None. 32 bytes suffice."""
    head = bytes(head[:32])
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:2] == b"BM" and int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES:
        return "image/bmp"
    return None


def _not_an_image(head: bytes, what: str) -> UnsupportedMedia:
    shown = head[:16]
    return UnsupportedMedia(
        f"{what} is not a supported image (supported: {_NAMES}); it starts with {shown!r}",
        details={"supported": list(IMAGE_MEDIA_TYPES), "head": shown.hex()},
    )


def _settings(settings: Settings | None) -> Settings:
    if settings is not None:
        return settings
    from uffizi.settings import get_settings

    return get_settings()


def _untrusted(source: str | os.PathLike | bytes | bytearray | memoryview) -> tuple[str | bytes, str]:
    """(what the child opens: a path string or bytes, its media type), checked by magic bytes."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        head, what = data[:32], "the data"
        target: str | bytes = data
    else:
        path = Path(source)
        try:
            with path.open("rb") as f:
                head = f.read(32)
        except FileNotFoundError:
            raise InvalidInput(f"no such file: {path}") from None
        except IsADirectoryError:
            raise InvalidInput(f"{path} is a directory, not an image") from None
        target, what = str(path), path.name
    media_type = sniff_image(head)
    if media_type is None:
        raise _not_an_image(head, what)
    return target, media_type


def decode_image(source: str | os.PathLike | bytes | bytearray | memoryview, *,
                 settings: Settings | None = None, page: int = 0) -> tuple[np.ndarray, dict[str, Any]]:
    """Decode an untrusted image (a path or bytes) in the sandbox: (H x W x 3 uint8 RGB, meta)."""
    settings = _settings(settings)
    target, media_type = _untrusted(source)
    return run_limited(
        decode_in_child, target, media_type, settings.max_image_pixels, page,
        timeout_s=settings.decode_timeout_s, memory_mb=settings.decode_memory_mb,
    )


def count_pages(source: str | os.PathLike | bytes, *, settings: Settings | None = None) -> int:
    """How many pages (TIFF) or frames (GIF, WebP) an image declares; headers only, sandboxed."""
    settings = _settings(settings)
    target, media_type = _untrusted(source)
    return run_limited(
        count_in_child, target, media_type,
        timeout_s=settings.decode_timeout_s, memory_mb=settings.decode_memory_mb,
    )


def array_to_rgb(array: np.ndarray) -> np.ndarray:
    """An in-memory array (H x W, H x W x 1/3/4; any int, bool or float dtype) as H x W x 3 uint8.

    RGBA is composited on white; uint8 and bool keep their values; floats in [0, 1] are scaled
    by 255; anything else is stretched from its min..max.
    """
    a = np.asarray(array)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)) or 0 in a.shape:
        raise InvalidInput(f"an image array must be H x W or H x W x 1/3/4, got shape {a.shape}")
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    elif a.dtype != np.uint8:
        f = np.nan_to_num(a.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        lo, hi = float(f.min()), float(f.max())
        if a.dtype.kind == "f" and lo >= 0.0 and hi <= 1.0:
            a = np.round(f * 255.0).astype(np.uint8)
        else:
            scale = 255.0 / (hi - lo) if hi > lo else 0.0
            a = np.clip((f - lo) * scale + 0.5, 0, 255).astype(np.uint8)
    if a.ndim == 2:
        return np.repeat(a[:, :, None], 3, axis=2)
    if a.shape[2] == 4:
        alpha = a[:, :, 3:4].astype(np.float32) / 255.0
        rgb = a[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        return np.round(rgb).astype(np.uint8)
    return np.ascontiguousarray(a)


def load_image(source: ImageSource, *, settings: Settings | None = None) -> Image.Image:
    """An RGB `PIL.Image` from a path, bytes, a PIL image or a numpy array.

    Paths and bytes are untrusted and decoded in the sandbox (first page / frame); PIL images
    and arrays are already decoded, so they are converted here, in-process.
    """
    if isinstance(source, Image.Image):
        limit = _settings(settings).max_image_pixels
        if source.width * source.height > limit:
            raise pixel_limit_error(source.width, source.height, limit)
        upright = ImageOps.exif_transpose(source)  # a copy: the caller's image is left alone
        return to_rgb(upright)[0]
    if isinstance(source, np.ndarray):
        limit = _settings(settings).max_image_pixels
        if source.ndim >= 2 and source.shape[0] * source.shape[1] > limit:
            raise pixel_limit_error(source.shape[1], source.shape[0], limit)
        return Image.fromarray(array_to_rgb(source), "RGB")
    if isinstance(source, (str, os.PathLike, bytes, bytearray, memoryview)):
        array, _ = decode_image(source, settings=settings)
        return Image.fromarray(array, "RGB")
    raise TypeError(f"load_image takes a path, bytes, a PIL image or a numpy array, not {type(source)}")
