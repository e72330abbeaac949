"""What runs inside the decoder child: open an image with PIL, check it, return RGB pixels.

`decode_in_child` is the sandbox target (see `uffizi.media.sandbox`); `to_rgb` is also used
in-process for images that are already decoded. The order matters for safety: the declared
size is checked against the pixel limit right after the header is parsed and before any pixel
is decoded; PIL is only allowed the one format the magic bytes named; truncated files are
errors (`ImageFile.LOAD_TRUNCATED_IMAGES` stays False).

Mode conversion to 8-bit RGB: palette and 1-bit expand; alpha (LA, RGBA, PA, palette or
grayscale transparency) is composited on white; CMYK and YCbCr convert; 16-bit, 32-bit and
float images are stretched from their own min..max to 0..255 (the range is kept in the meta as
`scaled_from`), since such data rarely spans the full range of its type.
"""

from __future__ import annotations

import io
import struct
from typing import Any

import numpy as np
from PIL import Image, ImageFile, ImageOps

from uffizi.errors import CorruptMedia, MediaTooLarge, UnsupportedMedia
from uffizi.media.exif import exif_summary

__all__ = ["PIL_FORMATS", "count_in_child", "decode_in_child", "to_rgb", "pixel_limit_error"]

# media type -> the PIL format plugins allowed to open it
PIL_FORMATS: dict[str, tuple[str, ...]] = {
    "image/png": ("PNG",),
    "image/jpeg": ("JPEG", "MPO"),
    "image/webp": ("WEBP",),
    "image/tiff": ("TIFF",),
    "image/bmp": ("BMP",),
    "image/gif": ("GIF",),
}

_DAMAGED = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, KeyError,
            TypeError, ZeroDivisionError)
_ALPHA_MODES = {"LA", "La", "RGBA", "RGBa", "PA"}
_DEEP_MODES = {"I", "F", "I;16", "I;16B", "I;16L", "I;16N", "I;16S", "I;32", "I;32B"}


def pixel_limit_error(width: int, height: int, limit: int) -> MediaTooLarge:
    pixels = width * height
    return MediaTooLarge(
        f"the image declares {width}x{height} = {pixels:,} pixels, over the limit of "
        f"{limit:,} (UFFIZI_MAX_IMAGE_PIXELS); refused before decoding",
        details={"width": width, "height": height, "pixels": pixels, "limit": limit,
                 "setting": "UFFIZI_MAX_IMAGE_PIXELS"},
    )


def _stretch(values: np.ndarray) -> tuple[np.ndarray, list[float]]:
    values = np.nan_to_num(values.astype(np.float64, copy=False), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        out = np.zeros(values.shape, np.uint8)
    else:
        out = np.clip((values - lo) * (255.0 / (hi - lo)) + 0.5, 0, 255).astype(np.uint8)
    return out, [lo, hi]


def to_rgb(im: Image.Image) -> tuple[Image.Image, dict[str, Any]]:
    """8-bit RGB of a loaded image, plus notes on what the conversion did."""
    notes: dict[str, Any] = {}
    mode = im.mode
    if mode == "RGB" and "transparency" not in im.info:
        return im, notes
    if mode in _DEEP_MODES:
        gray, notes["scaled_from"] = _stretch(np.asarray(im))
        return Image.fromarray(gray, "L").convert("RGB"), notes
    if mode == "P" or mode in ("L", "RGB", "1") and "transparency" in im.info:
        im = im.convert("RGBA")
        mode = "RGBA"
    if mode in _ALPHA_MODES:
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        notes["alpha"] = "composited on white"
        return Image.alpha_composite(white, rgba).convert("RGB"), notes
    try:
        return im.convert("RGB"), notes
    except ValueError as exc:
        raise UnsupportedMedia(f"images in mode {mode} are not supported: {exc}") from None


def _why_unreadable(source: str | bytes, fmt: str) -> str:
    """The format plugin's own reason for refusing the file (Image.open hides it)."""
    fp = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")  # noqa: SIM115
    try:
        Image.OPEN[fmt][0](fp, "")
    except Exception as exc:  # noqa: BLE001 - we only want its message
        return str(exc) or type(exc).__name__
    finally:
        fp.close()
    return "unidentified"


def _open(source: str | bytes, formats: tuple[str, ...]) -> Image.Image:
    fp = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        return Image.open(fp, formats=list(formats))
    except Image.DecompressionBombError as exc:
        raise MediaTooLarge(str(exc)) from None
    except FileNotFoundError:
        raise
    except (Image.UnidentifiedImageError, *_DAMAGED) as exc:
        why = _why_unreadable(source, formats[0]) if isinstance(exc, Image.UnidentifiedImageError) else str(exc)
        if any(word in why.lower() for word in ("unknown", "unsupported", "not supported")):
            raise UnsupportedMedia(
                f"this {formats[0]} variant is not supported: {why}",
                details={"format": formats[0], "reason": why},
            ) from None
        raise CorruptMedia(
            f"the file starts like {formats[0]} but its header cannot be read: {why}",
            details={"format": formats[0], "reason": why},
        ) from None


def decode_in_child(source: str | bytes, media_type: str, max_pixels: int,
                    page: int = 0) -> tuple[np.ndarray, dict[str, Any]]:
    """Decode page `page` of an image: (H x W x 3 uint8 RGB array, meta). Sandbox target."""
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    Image.MAX_IMAGE_PIXELS = None  # ours below, with a message naming the setting
    formats = PIL_FORMATS[media_type]
    im = _open(source, formats)
    with im:
        width, height = im.size
        if width * height > max_pixels:
            raise pixel_limit_error(width, height, max_pixels)
        fmt = im.format or formats[0]
        pages = int(getattr(im, "n_frames", 1) or 1)
        try:
            if page:
                if page >= pages:
                    raise CorruptMedia(f"page {page} asked for, the file has {pages}")
                im.seek(page)
                width, height = im.size
                if width * height > max_pixels:
                    raise pixel_limit_error(width, height, max_pixels)
            mode = im.mode
            exif = exif_summary(im)
            im.load()
            upright = ImageOps.exif_transpose(im)
            rgb, notes = to_rgb(upright)
            array = np.asarray(rgb, dtype=np.uint8)
        except Image.DecompressionBombError as exc:
            raise MediaTooLarge(str(exc)) from None
        except _DAMAGED as exc:
            raise CorruptMedia(
                f"the {fmt} image is truncated or damaged: {exc}",
                details={"format": fmt},
            ) from None
    meta: dict[str, Any] = {
        "format": fmt,
        "media_type": media_type,
        "mode": mode,
        "size": [width, height],
        "pages": pages,
        "page": page,
        **notes,
    }
    if getattr(im, "is_animated", False) and fmt != "TIFF":
        meta["animated"] = True
    if exif:
        meta["exif"] = exif
        if exif.get("orientation", 1) != 1:
            meta["orientation"] = exif["orientation"]
    if array.ndim != 3 or array.shape[2] != 3:  # pragma: no cover - to_rgb guarantees it
        raise CorruptMedia(f"decoded to an unexpected shape {array.shape}")
    return np.ascontiguousarray(array), meta


def count_in_child(source: str | bytes, media_type: str) -> int:
    """How many pages / frames the file declares (headers only). Sandbox target."""
    with _open(source, PIL_FORMATS[media_type]) as im:
        try:
            return int(getattr(im, "n_frames", 1) or 1)
        except _DAMAGED as exc:
            raise CorruptMedia(f"the {im.format} page list is damaged: {exc}") from None
