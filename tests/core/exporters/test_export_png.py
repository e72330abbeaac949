"""The png exporter: reads the records, draws on each input image, writes <stem>.png."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from uffizi.exporters.png_export import AnnotatedImageExporter, frame_drawing, output_names
from uffizi.pipeline import RunResult
from uffizi.results import Detection, TaskResult


def photo(name: str) -> Path:
    skimage = pytest.importorskip("skimage")
    return Path(skimage.__file__).parent / "data" / name


def od(size, *dets, task="<OD>") -> dict:
    return TaskResult(task=task, image_size=size, detections=list(dets)).model_dump(mode="json")


def record(results, input=0, frame=0, **extra) -> dict:
    return {"input": input, "frame": frame, "results": results, **extra}


def run(tmp_path, records, inputs, names=None):
    result = RunResult(pipeline="core/florence@v1", records=records,
                       inputs=[str(p) for p in (names or inputs)])
    return AnnotatedImageExporter().export(result, tmp_path / "out", inputs=inputs)


def test_detections_drawn_on_the_input_at_its_size(tmp_path):
    src = photo("chelsea.png")  # 451 x 300
    box = Detection(label="cat", bbox=[40, 20, 300, 280], score=0.91)
    poly = Detection(label="ear", polygons=[[60, 30, 120, 20, 110, 90]], score=0.6)
    quad = Detection(label="TEXT", quad=[320, 200, 430, 205, 428, 240, 318, 235], score=0.8)
    (path,) = run(tmp_path, [record([od((451, 300), box, poly, quad)])], [src])
    assert path.name == "chelsea.png"
    original = np.asarray(Image.open(src).convert("RGB"))
    drawn = np.asarray(Image.open(path))
    assert drawn.shape == original.shape
    diff = np.any(drawn != original, axis=2)
    assert diff[150, 40] and diff[150, 300]  # the box's left and right edges
    assert diff[60, 90]  # inside the polygon (translucent fill)
    assert diff[220, 319]  # the quad's left edge
    assert not diff[150, 200]  # the middle of the box is the photo
    assert not diff[290, 440]  # a corner nothing touches


def test_caption_only_result_is_written_with_a_banner(tmp_path):
    src = photo("rocket.jpg")
    caption = TaskResult(task="<CAPTION>", text="A rocket on a launch pad.", text_score=0.8,
                         image_size=(640, 427)).model_dump()
    (path,) = run(tmp_path, [record([caption])], [src])
    original = np.asarray(Image.open(src).convert("RGB")).astype(int)
    drawn = np.asarray(Image.open(path)).astype(int)
    rows = np.flatnonzero((np.abs(drawn - original) > 8).any(axis=(1, 2)))
    assert rows.size and rows.min() > 427 // 2  # only the bottom band changed


def test_no_detections_and_region_answers(tmp_path):
    dets, lines = frame_drawing([
        od((100, 100)),
        TaskResult(task="<REGION_TO_CATEGORY>", text="dog", text_score=0.7, region=[1, 2, 30, 40],
                   image_size=(100, 100)),
    ], (200, 200))
    assert lines == ["<OD>: no detections"]
    assert dets == [{"label": "dog", "bbox": [2.0, 4.0, 60.0, 80.0], "score": 0.7, "quad": None,
                     "polygons": []}]


def test_coordinates_follow_offset_or_scale():
    det = Detection(label="a", bbox=[10, 10, 20, 20], polygons=[[0, 0, 10, 0, 10, 10]], score=0.5)
    (shifted,), _ = frame_drawing([od((64, 64), det)], (500, 500), offset=(100, 200))
    assert shifted["bbox"] == [110, 210, 120, 220] and shifted["polygons"] == [[100, 200, 110, 200, 110, 210]]
    (scaled,), _ = frame_drawing([od((50, 50), det)], (100, 200))
    assert scaled["bbox"] == [20, 40, 40, 80]


def test_tiff_pages_and_names(tmp_path):
    pages = [Image.new("RGB", (60, 40), c) for c in ((200, 50, 50), (50, 200, 50))]
    tiff = tmp_path / "scan.tiff"
    pages[0].save(tiff, save_all=True, append_images=pages[1:])
    det = Detection(label="x", bbox=[5, 5, 50, 30], score=0.5)
    paths = run(tmp_path, [record([od((60, 40), det)], frame=0), record([od((60, 40), det)], frame=1)],
                [tiff])
    assert [p.name for p in paths] == ["scan-p0.png", "scan-p1.png"]
    assert tuple(np.asarray(Image.open(paths[1]))[35, 55]) == (50, 200, 50)
    keys = [(0, 0), (1, 0), (2, 0)]
    assert output_names(keys, ["a/img.png", "b/img.jpg", "c/odd name!.png"]) == {
        (0, 0): "img-0.png", (1, 0): "img-1.png", (2, 0): "odd_name_.png"}


def test_non_images_and_records_of_missing_inputs_are_skipped(tmp_path):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(100))
    det = Detection(label="x", bbox=[1, 1, 5, 5], score=0.5)
    assert run(tmp_path, [record([od((10, 10), det)]), record([od((10, 10), det)], input=7)],
               [video]) == []
    empty = RunResult(pipeline="p/q@v1", records=[record([])])
    assert AnnotatedImageExporter().export(empty, tmp_path / "none", inputs=None) == []
