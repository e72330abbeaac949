"""Prompts and coordinates: task + inputs -> the model's prompt; pixels <-> location bins.

Florence-2 speaks about positions in 1000 bins per axis (`<loc_0>` .. `<loc_999>`). A pixel
box becomes bins with the model's own quantization (floor of x / (width / 1000), clamped to
0..999) and bins come back as the centre of the bin, truncated to whole pixels, exactly as
transformers' `Florence2PostProcessor` does, so a region survives pixel -> loc -> pixel within
one bin.
"""

from __future__ import annotations

import math

import numpy as np

from uffizi.tasks import FlorenceTask

BINS = 1000


def quantize(value: float, size: int) -> int:
    """One coordinate in pixels -> its bin (0..999) along an axis of `size` pixels."""
    per_bin = size / BINS
    return int(min(max(math.floor(value / per_bin), 0), BINS - 1))


def dequantize(bin_: int, size: int) -> int:
    """One bin -> pixels: the bin's centre, truncated toward zero. Computed in float32, as
    transformers' post-processor does with torch, so both give the same pixel every time."""
    return int(np.float32(bin_ + 0.5) * np.float32(size / BINS))


def box_to_bins(box: list[float], image_size: tuple[int, int]) -> list[int]:
    w, h = image_size
    x1, y1, x2, y2 = box
    return [quantize(x1, w), quantize(y1, h), quantize(x2, w), quantize(y2, h)]


def bins_to_locs(bins: list[int]) -> str:
    return "".join(f"<loc_{b}>" for b in bins)


def region_text(box: list[float], image_size: tuple[int, int]) -> str:
    """A pixel box as the four location tokens the model reads."""
    return bins_to_locs(box_to_bins(box, image_size))


def build_prompt(
    task: FlorenceTask, *, text: str | None = None, region: list[float] | None = None,
    image_size: tuple[int, int] | None = None,
) -> str:
    """The natural-language prompt Florence-2 was trained on, with the input filled in.

    Mirrors `Florence2Processor._construct_prompts`: the task's template with `{input}`
    replaced by the (stripped) text or the region's location tokens.
    """
    if "{input}" not in task.prompt:
        return task.prompt
    if region is not None:
        if image_size is None:
            raise ValueError("a region prompt needs the image size")
        value = region_text(region, image_size)
    else:
        value = (text or "").strip()
    return task.prompt.format(input=value)
