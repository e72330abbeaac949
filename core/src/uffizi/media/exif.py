"""A small, JSON-able summary of an image's EXIF: camera, lens, exposure, datetimes and GPS.

Only the fields people search and filter on are kept, each converted to plain str / int /
float; a malformed field is skipped, never an error. GPS comes back in decimal degrees
(`{"lat", "lon", "alt"}`, south and west negative).
"""

from __future__ import annotations

import math
from typing import Any

from PIL import Image

__all__ = ["exif_summary"]

_MAX_TEXT = 256
_IFD_EXIF = 0x8769
_IFD_GPS = 0x8825

# tag -> key, for the base IFD and the Exif sub-IFD
_BASE = {0x010F: "make", 0x0110: "model", 0x0131: "software", 0x0132: "datetime",
         0x0112: "orientation", 0x010E: "description", 0x013B: "artist"}
_EXIF = {0x9003: "datetime_original", 0x9004: "datetime_digitized", 0x829A: "exposure_time",
         0x829D: "f_number", 0x8827: "iso", 0x920A: "focal_length", 0xA434: "lens_model",
         0xA405: "focal_length_35mm", 0x9010: "offset_time"}


def _plain(value: Any) -> str | int | float | None:
    """Plain JSON value of an EXIF value; None if it has no sensible one."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        value = value.replace("\x00", "").strip()
        return value[:_MAX_TEXT] or None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, tuple) and len(value) == 1:
        return _plain(value[0])
    try:
        number = float(value)  # IFDRational, float
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return round(number, 6) if math.isfinite(number) else None


def _degrees(dms: Any, ref: Any) -> float | None:
    try:
        d, m, s = (float(x) for x in dms)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    value = d + m / 60.0 + s / 3600.0
    if not math.isfinite(value):
        return None
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "replace")
    if isinstance(ref, str) and ref.strip("\x00 ").upper() in ("S", "W"):
        value = -value
    return round(value, 7)


def _gps(ifd: Any) -> dict[str, float] | None:
    out: dict[str, float] = {}
    lat = _degrees(ifd.get(2), ifd.get(1))
    lon = _degrees(ifd.get(4), ifd.get(3))
    if lat is None or lon is None or abs(lat) > 90 or abs(lon) > 180:
        return None
    out["lat"], out["lon"] = lat, lon
    alt = _plain(ifd.get(6))
    if isinstance(alt, (int, float)):
        below = ifd.get(5) in (1, b"\x01")
        out["alt"] = -float(alt) if below else float(alt)
    return out


def exif_summary(im: Image.Image) -> dict[str, Any]:
    """The summary of `im`'s EXIF; `{}` when it has none or it cannot be read."""
    try:
        exif = im.getexif()
    except Exception:  # malformed EXIF never fails a decode
        return {}
    out: dict[str, Any] = {}
    for tag, key in _BASE.items():
        value = _plain(exif.get(tag))
        if value is not None:
            out[key] = value
    for ifd_tag, table in ((_IFD_EXIF, _EXIF),):
        try:
            ifd = exif.get_ifd(ifd_tag)
        except Exception:
            continue
        for tag, key in table.items():
            value = _plain(ifd.get(tag))
            if value is not None:
                out[key] = value
    try:
        gps = _gps(exif.get_ifd(_IFD_GPS))
    except Exception:
        gps = None
    if gps:
        out["gps"] = gps
    return out
