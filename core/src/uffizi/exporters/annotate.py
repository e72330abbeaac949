"""Drawing results on an image: boxes, translucent polygons, OCR quads, scored labels, a caption banner.

`annotate(image, detections, text=...)` is the one drawing function; the PNG exporter, the
CLI and pipelines use it. Drawing goes through supervision: `sv.BoxAnnotator` for boxes,
`sv.draw_filled_polygon` / `sv.draw_polygon` for polygons and OCR quads (filled translucent,
then outlined), `sv.RichLabelAnnotator` for the "label 0.87" tags (a TrueType font, so OCR
text outside ASCII shows). Colours follow the class: the same label gets the same colour
within a call, and across calls when the caller passes `class_ids`. Line widths and the font
size scale with the image, so tags stay legible on a 300 px thumbnail and a 4000 px photo.
`text` lines (a caption, an OCR transcript, "no detections") go in a dark banner at the
bottom of the image; the image keeps its size.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import supervision as sv
from PIL import Image, ImageDraw, ImageFont

__all__ = ["annotate", "Style", "style_for"]

_PALETTE = sv.ColorPalette.DEFAULT
# black text on light tag colours, white on dark ones
_TEXT = sv.ColorPalette([
    sv.Color.BLACK if 0.299 * c.r + 0.587 * c.g + 0.114 * c.b > 150 else sv.Color.WHITE
    for c in _PALETTE.colors
])
_MAX_LABEL = 48


@dataclass(frozen=True)
class Style:
    thickness: int
    font_size: int
    padding: int
    fill_opacity: float = 0.3


def style_for(width: int, height: int) -> Style:
    """Line width and font size for an image of this size."""
    short = max(1, min(width, height))
    font = max(11, round(short / 36))
    return Style(thickness=max(1, round(short / 320)), font_size=font, padding=max(2, font // 4))


@lru_cache(maxsize=1)
def _font_path() -> str | None:
    for name in ("DejaVuSans.ttf", "LiberationSans-Regular.ttf", "Arial.ttf"):
        try:
            return str(ImageFont.truetype(name, 12).path)
        except OSError:
            continue
    return None


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = _font_path()
    return ImageFont.truetype(path, size) if path else ImageFont.load_default(size)


def _as_dict(det: Any) -> dict[str, Any]:
    return det.model_dump() if hasattr(det, "model_dump") else dict(det)


def _points(flat: Sequence[float] | None, limit: float) -> np.ndarray | None:
    """Flat [x1, y1, x2, y2, ...] as N x 2 int32 points, or None when not a polygon."""
    if not flat or len(flat) < 6 or len(flat) % 2:
        return None
    pts = np.asarray(flat, dtype=np.float64).reshape(-1, 2)
    if not np.isfinite(pts).all():
        return None
    return np.round(np.clip(pts, -limit, 2 * limit)).astype(np.int32)


def _box(bbox: Sequence[float] | None, limit: float) -> np.ndarray | None:
    if not bbox or len(bbox) != 4 or not all(math.isfinite(v) for v in bbox):
        return None
    x1, y1, x2, y2 = (float(v) for v in bbox)
    box = np.array([min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)])
    return np.clip(box, -limit, 2 * limit)


def _label(det: Mapping[str, Any]) -> str:
    label = " ".join(str(det.get("label") or "").split())
    if len(label) > _MAX_LABEL:
        label = label[: _MAX_LABEL - 1] + "\u2026"
    score = det.get("score")
    if score is None:
        return label
    return f"{label} {float(score):.2f}".strip()


def _fill(scene: np.ndarray, pts: np.ndarray, color: sv.Color, opacity: float) -> None:
    """A translucent polygon, blended only inside its bounding box (cheap on big images)."""
    h, w = scene.shape[:2]
    x0, y0 = max(0, int(pts[:, 0].min())), max(0, int(pts[:, 1].min()))
    x1, y1 = min(w, int(pts[:, 0].max()) + 1), min(h, int(pts[:, 1].max()) + 1)
    if x1 <= x0 or y1 <= y0:
        return
    roi = np.ascontiguousarray(scene[y0:y1, x0:x1])
    sv.draw_filled_polygon(roi, pts - np.array([x0, y0], np.int32), color=color, opacity=opacity)
    scene[y0:y1, x0:x1] = roi


def _wrap(line: str, font: Any, width: float) -> list[str]:
    """Word-wrap to `width` pixels; words wider than a line are cut by character."""
    out: list[str] = []
    current = ""
    for word in line.split():
        trial = f"{current} {word}".strip()
        if font.getlength(trial) <= width:
            current = trial
            continue
        if current:
            out.append(current)
        current = ""
        for ch in word:
            if current and font.getlength(current + ch) > width:
                out.append(current)
                current = ""
            current += ch
    return [*out, current] if current else out


def _banner(rgb: np.ndarray, lines: Iterable[str], style: Style) -> np.ndarray:
    """`lines` word-wrapped in white on a dark band at the bottom, at most 45% of the height."""
    h, w = rgb.shape[:2]
    font = _font(style.font_size)
    pad = style.padding * 2
    line_h = int(style.font_size * 1.25)
    wrapped = [part for line in lines for part in _wrap(line, font, w - 2 * pad)]
    room = max(1, (int(h * 0.45) - 2 * pad) // line_h)
    if len(wrapped) > room:
        wrapped = [*wrapped[: room - 1], wrapped[room - 1][:-2] + " \u2026"]
    top = max(0, h - (len(wrapped) * line_h + 2 * pad))
    out = rgb.copy()
    out[top:] = (out[top:].astype(np.uint16) * 3 // 10).astype(np.uint8)
    image = Image.fromarray(out)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(wrapped):
        draw.text((pad, top + pad + i * line_h), line, font=font, fill=(255, 255, 255))
    return np.asarray(image)


def annotate(image: np.ndarray | Image.Image, detections: Iterable[Any], *,
             text: str | Sequence[str] | None = None,
             class_ids: Mapping[str, int] | None = None) -> np.ndarray:
    """Draw `detections` (`Detection`s or their dicts) on a copy of `image`: H x W x 3 uint8 RGB.

    Each detection is drawn by what it has: `bbox` (a box), `polygons` (filled translucent and
    outlined), `quad` (an OCR quadrilateral, drawn as a polygon), and its "label score" tag at
    its top-left. `text` (one string or several lines) goes in a banner at the bottom.
    """
    from uffizi.media.images import load_image

    rgb = np.array(load_image(image), dtype=np.uint8)  # trusted in-memory path; a copy
    h, w = rgb.shape[:2]
    style = style_for(w, h)
    limit = float(max(w, h))
    dets = [_as_dict(d) for d in detections]
    if class_ids is None:
        class_ids = {name: i for i, name in enumerate(sorted({str(d.get("label") or "") for d in dets}))}
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    boxes, box_ids, tags, tag_xyxy, tag_ids = [], [], [], [], []
    for det in dets:
        cid = int(class_ids.get(str(det.get("label") or ""), 0))
        color = _PALETTE.by_idx(cid)
        shapes = [p for p in (_points(poly, limit) for poly in det.get("polygons") or []) if p is not None]
        quad = _points(det.get("quad"), limit)
        for pts, opacity in [*((p, style.fill_opacity) for p in shapes),
                             *([(quad, style.fill_opacity / 2)] if quad is not None else [])]:
            _fill(bgr, pts, color, opacity)
            sv.draw_polygon(bgr, pts, color=color, thickness=style.thickness)
        box = _box(det.get("bbox"), limit)
        if box is not None:
            boxes.append(box)
            box_ids.append(cid)
        elif shapes or quad is not None:
            allpts = np.concatenate([*shapes, *([quad] if quad is not None else [])])
            box = np.array([*allpts.min(axis=0), *allpts.max(axis=0)], dtype=np.float64)
        if box is not None:
            tags.append(_label(det))
            tag_xyxy.append(box)
            tag_ids.append(cid)
    if boxes:
        found = sv.Detections(xyxy=np.array(boxes, dtype=np.float32), class_id=np.array(box_ids))
        sv.BoxAnnotator(color=_PALETTE, thickness=style.thickness).annotate(bgr, found)
    if tags:
        tagged = sv.Detections(xyxy=np.array(tag_xyxy, dtype=np.float32), class_id=np.array(tag_ids))
        labeller = sv.RichLabelAnnotator(
            color=_PALETTE, text_color=_TEXT, font_path=_font_path(),
            font_size=style.font_size, text_padding=style.padding, smart_position=True,
        )
        labeller.annotate(bgr, tagged, labels=tags)
    out = np.ascontiguousarray(bgr[:, :, ::-1])
    lines = [text] if isinstance(text, str) else list(text or [])
    lines = [line for line in lines if line and line.strip()]
    return _banner(out, lines, style) if lines else out
