"""Sample images for the media and exporter tests: made with PIL, or scikit-image's photos."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def skimage_photo(name: str) -> Path:
    skimage = pytest.importorskip("skimage")
    return Path(skimage.__file__).parent / "data" / name


def encode(im: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def gradient(width: int = 64, height: int = 48) -> Image.Image:
    """An RGB image whose every pixel is different enough to check orientation and crops."""
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    rgb = np.stack([np.broadcast_to(x, (height, width)), np.broadcast_to(y, (height, width)),
                    np.full((height, width), 128, np.float32)], axis=2)
    return Image.fromarray(rgb.astype(np.uint8), "RGB")


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR claims width x height (CRC fixed up): a decompression bomb header."""
    data = bytearray(encode(Image.new("RGB", (4, 4), (1, 2, 3)), "PNG"))
    ihdr = 8  # length(4) type(4) then width, height
    data[ihdr + 8:ihdr + 16] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr + 4:ihdr + 8 + 13])) & 0xFFFFFFFF
    data[ihdr + 8 + 13:ihdr + 8 + 17] = struct.pack(">I", crc)
    return bytes(data)
