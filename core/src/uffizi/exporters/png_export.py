"""The `png` exporter: every input image with what the model found drawn on it.

The records it reads (what `core/florence@v1` appends; any pipeline may follow it):

    {"input": 0,            # index into the run's inputs (default 0)
     "frame": 0,            # frame index: the page of a multi-page TIFF (default 0)
     "offset": [x, y],      # optional: the frame is a window (tile) at this offset of page 0
     "results": [TaskResult.model_dump(), ...]}

Each result's `detections` (`label`, `bbox`, `polygons`, `quad`, `score`) are in the pixels of
an image of `image_size`; they are shifted by `offset` when there is one, else scaled if the
decoded image has another size. A region task that answers text (`<REGION_TO_CATEGORY>`, ...)
is drawn as its region labelled with the answer. Text tasks (captions, `<OCR>`) and geometry
tasks that found nothing ("<OD>: no detections") become lines of a banner at the bottom.

One PNG per (input, page) that has records: `<input stem>.png`, or `<stem>-p<page>.png` when
several pages of one input were drawn; inputs sharing a stem get `-<input index>` added.
Inputs are decoded like any untrusted input (in the sandbox); an input that is not an image
(a video, say) is skipped. The PNG has the size of the upright input image.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from uffizi.contracts import Exporter
from uffizi.errors import UnsupportedMedia
from uffizi.pipeline import RunResult

__all__ = ["AnnotatedImageExporter", "frame_drawing", "output_names"]

Key = tuple[int, int]  # (input index, page)


def _dump(result: Any) -> dict[str, Any]:
    return result.model_dump() if hasattr(result, "model_dump") else dict(result)


def _is_text_task(token: str) -> bool:
    from uffizi.errors import UffiziError
    from uffizi.tasks import ResultShape, get_task

    try:
        return get_task(token).shape is ResultShape.TEXT
    except UffiziError:
        return True  # a custom task we do not know: show what it said


def _move(det: dict[str, Any], sx: float, sy: float, dx: float, dy: float) -> dict[str, Any]:
    def xy(flat: list[float] | None) -> list[float] | None:
        if not flat:
            return flat
        return [v * sx + dx if i % 2 == 0 else v * sy + dy for i, v in enumerate(flat)]

    return {**det, "bbox": xy(det.get("bbox")), "quad": xy(det.get("quad")),
            "polygons": [xy(p) for p in det.get("polygons") or []]}


def frame_drawing(results: list[Any], size: tuple[int, int],
                  offset: tuple[float, float] | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """(detections to draw, banner lines) for the results of one frame drawn at `size` (w, h)."""
    dets: list[dict[str, Any]] = []
    lines: list[str] = []
    for raw in results:
        r = _dump(raw)
        task = str(r.get("task", ""))
        sx = sy = 1.0
        dx, dy = offset or (0.0, 0.0)
        given = r.get("image_size")
        if offset is None and given and given[0] and given[1] and tuple(given) != tuple(size):
            sx, sy = size[0] / float(given[0]), size[1] / float(given[1])
        found = [_dump(d) for d in r.get("detections") or []]
        text = " ".join(str(r.get("text") or "").split())
        if found:
            dets += [_move(d, sx, sy, dx, dy) for d in found]
        elif r.get("region") and text and _is_text_task(task):
            region = {"label": text, "bbox": r["region"], "score": r.get("text_score")}
            dets.append(_move(region, sx, sy, dx, dy))
        elif text and _is_text_task(task):
            lines.append(f"{task}: {text}" if task else text)
        else:
            lines.append(f"{task or 'result'}: no detections")
    return dets, lines


def _safe_stem(name: str, index: int) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).stem).lstrip(".")
    return stem or f"input{index}"


def output_names(keys: list[Key], inputs: list[Any]) -> dict[Key, str]:
    """The PNG file name of each (input, page) to draw."""
    stems = {i: _safe_stem(str(inputs[i]), i) for i, _ in keys}
    counts: dict[str, int] = defaultdict(int)
    for stem in set(stems.values()):
        counts[stem] = sum(1 for s in stems.values() if s == stem)
    pages: dict[int, int] = defaultdict(int)
    for i, _ in keys:
        pages[i] += 1
    names = {}
    for i, page in keys:
        base = stems[i] if counts[stems[i]] == 1 else f"{stems[i]}-{i}"
        names[(i, page)] = f"{base}-p{page}.png" if pages[i] > 1 else f"{base}.png"
    return names


class AnnotatedImageExporter(Exporter):
    """Each input image with its detections, labels and captions drawn on it, as PNG."""

    format: ClassVar[str] = "png"
    media_type: ClassVar[str] = "image/png"
    description: ClassVar[str] = ("Each input image with its detections drawn (boxes, polygons, "
                                  "OCR quads, labels with scores); captions in a banner")

    def export(self, result: RunResult, out_dir: Path, *, inputs: list[Path] | None = None) -> list[Path]:
        from uffizi.exporters.annotate import annotate  # supervision: only when drawing
        from uffizi.media.images import decode_image
        from uffizi.settings import get_settings

        if not inputs:
            return []
        groups: dict[Key, list[tuple[list[Any], tuple[float, float] | None]]] = defaultdict(list)
        labels: set[str] = set()
        for record in result.records:
            index = int(record.get("input", 0))
            if not 0 <= index < len(inputs):
                continue
            offset = record.get("offset")
            page = 0 if offset is not None else int(record.get("frame", 0))
            results = list(record.get("results") or [])
            groups[(index, page)].append((results, tuple(offset) if offset is not None else None))
            for r in results:
                labels.update(str(d.get("label") or "") for d in _dump(r).get("detections") or [])
        class_ids = {name: i for i, name in enumerate(sorted(labels))}
        names = output_names(sorted(groups), inputs)
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        settings = get_settings()
        written = []
        for key in sorted(groups):
            index, page = key
            try:
                image, _ = decode_image(inputs[index], settings=settings, page=page)
            except UnsupportedMedia:
                continue  # not an image: other exporters draw on video
            size = (image.shape[1], image.shape[0])
            dets: list[dict[str, Any]] = []
            lines: list[str] = []
            for results, offset in groups[key]:
                more_dets, more_lines = frame_drawing(results, size, offset)
                dets += more_dets
                lines += more_lines
            drawn = annotate(image, dets, text=lines, class_ids=class_ids)
            path = out_dir / names[key]
            Image.fromarray(np.ascontiguousarray(drawn), "RGB").save(path, "PNG", compress_level=6)
            written.append(path)
        return written
