"""`annotate`: boxes, polygons, quads and labels drawn where they belong and nowhere else."""

from __future__ import annotations

import time

import numpy as np
import pytest
import supervision as sv
from PIL import Image
from uffizi.exporters.annotate import annotate, style_for
from uffizi.results import Detection

GRAY = 128


def canvas(w: int = 640, h: int = 480) -> np.ndarray:
    return np.full((h, w, 3), GRAY, np.uint8)


def changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.any(a != b, axis=2)


def allowed_near(shape, xyxy, style, *, label_width: int) -> np.ndarray:
    """Where drawing a box/shape with its tag may change pixels: the shape, its outline and the
    tag at its top-left (above or inside the top edge)."""
    h, w = shape[:2]
    x1, y1, x2, y2 = xyxy
    m = style.thickness + 2
    tag_h = 2 * style.font_size + 2 * style.padding
    mask = np.zeros((h, w), bool)
    mask[max(0, y1 - m):y2 + m, max(0, x1 - m):x2 + m] = True
    mask[max(0, y1 - tag_h):y1 + tag_h, max(0, x1 - m):x1 + label_width] = True
    return mask


def test_same_size_new_array_input_untouched():
    src = canvas()
    out = annotate(src, [{"label": "car", "bbox": [100, 100, 200, 200], "score": 0.9}])
    assert out.shape == src.shape and out.dtype == np.uint8 and out is not src
    assert (src == GRAY).all()


def test_box_drawn_on_its_edges_in_its_class_colour_and_nowhere_far():
    src = canvas()
    box = (200, 220, 420, 400)
    out = annotate(src, [{"label": "car", "bbox": list(box), "score": 0.87}])
    diff = changed(src, out)
    style = style_for(640, 480)
    x1, y1, x2, y2 = box
    assert diff[300, x1] and diff[300, x2] and diff[y2, 300]  # left, right, bottom edges
    assert not diff[310, 310]  # the inside of a box is left alone
    assert tuple(out[300, x1]) == _PALETTE0  # class 0 colour, RGB
    far = diff & ~allowed_near(src.shape, box, style, label_width=12 * style.font_size)
    assert not far.any(), f"{far.sum()} pixels changed far from the box"
    tag = diff[y1 - style.font_size:y1, x1:x1 + 5 * style.font_size]
    assert tag.mean() > 0.5  # the "car 0.87" tag sits on top of the box


_PALETTE0 = sv.ColorPalette.DEFAULT.by_idx(0).as_rgb()


def test_polygon_filled_translucent_and_outlined():
    src = canvas()
    square = [100, 100, 300, 100, 300, 300, 100, 300]
    out = annotate(src, [{"label": "roof", "polygons": [square], "score": 0.7}])
    inside = out[200, 200].astype(int)
    colour = np.array(_PALETTE0)
    assert (inside != GRAY).any() and not (inside == colour).all()  # blended, not painted
    expected = np.round(0.3 * colour + 0.7 * GRAY)
    assert np.abs(inside - expected).max() <= 2
    assert tuple(out[200, 100]) == _PALETTE0  # the outline is solid
    style = style_for(640, 480)
    far = changed(src, out) & ~allowed_near(src.shape, (100, 100, 300, 300), style,
                                            label_width=12 * style.font_size)
    assert not far.any()


def test_ocr_quad_drawn_as_a_polygon():
    src = canvas()
    quad = [350, 150, 550, 170, 540, 230, 340, 210]
    out = annotate(src, [Detection(label="EXIT 12", quad=quad, score=0.93)])
    diff = changed(src, out)
    assert diff[190, 345] and diff[160, 450]  # left edge, top edge
    assert diff[190, 450]  # lightly filled inside
    assert not diff[400, 100] and not diff[50, 600]


def test_labels_of_several_classes_get_their_own_colours():
    src = canvas()
    dets = [{"label": "b", "bbox": [50, 200, 150, 300], "score": 0.5},
            {"label": "a", "bbox": [400, 200, 500, 300], "score": 0.5}]
    out = annotate(src, dets)
    palette = sv.ColorPalette.DEFAULT
    assert tuple(out[250, 400]) == palette.by_idx(0).as_rgb()  # "a" sorts first
    assert tuple(out[250, 50]) == palette.by_idx(1).as_rgb()
    fixed = annotate(src, dets, class_ids={"a": 5, "b": 5})
    assert tuple(fixed[250, 50]) == tuple(fixed[250, 400]) == palette.by_idx(5).as_rgb()


def test_caption_banner_at_the_bottom_only():
    src = canvas()
    out = annotate(src, [], text="<CAPTION>: A gray square on a gray background.")
    diff = changed(src, out)
    rows = np.flatnonzero(diff.any(axis=1))
    assert rows.size and rows.min() > 480 * 0.55 and rows.max() == 479
    assert out[479, 0].max() < GRAY  # darkened band
    assert (out[470:, :].max(axis=2) > 200).any()  # white text in it


def test_long_text_is_wrapped_and_capped_at_under_half_the_image():
    src = canvas(320, 240)
    out = annotate(src, [], text=["word " * 400])
    rows = np.flatnonzero(changed(src, out).any(axis=1))
    assert rows.min() >= 240 * 0.5


def test_dicts_and_detections_draw_the_same_and_pil_images_work():
    det = {"label": "cat", "bbox": [10, 20, 200, 180], "polygons": None, "quad": None, "score": 0.91}
    a = annotate(Image.fromarray(canvas()), [det])
    b = annotate(canvas(), [Detection(**det)])
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("bad", [
    {"label": "x", "bbox": [float("nan"), 0, 5, 5], "score": 0.1},
    {"label": "x", "polygons": [[1, 2, 3, 4]], "score": 0.1},
    {"label": "x", "quad": [1, 2, 3, 4, 5, 6, 7], "score": 0.1},
    {"label": "x", "bbox": [1e12, -1e12, 5, 5], "score": 0.1},
    {"label": "", "bbox": [600, 400, 10, 10], "score": 0.1},
])
def test_odd_geometry_never_crashes(bad):
    out = annotate(canvas(), [bad])
    assert out.shape == (480, 640, 3)


def test_style_scales_with_the_image_and_big_images_are_quick():
    small, big = style_for(300, 200), style_for(4000, 3000)
    assert small.font_size >= 11 and big.font_size > 5 * small.font_size
    assert big.thickness > small.thickness
    image = np.full((3000, 4000, 3), 90, np.uint8)
    dets = [{"label": f"obj{i}", "bbox": [i * 90, i * 60, i * 90 + 400, i * 60 + 300], "score": 0.5,
             "polygons": [[i * 90, i * 60, i * 90 + 200, i * 60, i * 90 + 100, i * 60 + 200]]}
            for i in range(30)]
    started = time.perf_counter()
    annotate(image, dets)
    assert time.perf_counter() - started < 5


def test_unbroken_text_is_cut_to_the_width():
    from uffizi.exporters.annotate import _font, _wrap

    font = _font(12)
    lines = _wrap("<loc_1>" * 80 + " short", font, 200)
    assert len(lines) > 3 and all(font.getlength(line) <= 200 for line in lines)
    assert lines[-1].endswith("short")
