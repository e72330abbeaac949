"""The engine on the tiny random-weight checkpoint: every task, coordinates, batching,
shared image encoding, threads, guards and bad input."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from uffizi.engine.prompts import box_to_bins, build_prompt, dequantize, region_text
from uffizi.engine.requests import TaskRequest
from uffizi.errors import UffiziError
from uffizi.tasks import BUILTIN_TASKS, ResultShape, get_task

N = 24  # generated tokens per answer: random weights rarely stop on their own


def _inputs(task, size):
    w, h = size
    if task.needs_text:
        return {"text": "a red car"}
    if task.needs_region:
        return {"region": [w * 0.1, h * 0.2, w * 0.6, h * 0.7]}
    return {}


@pytest.fixture(scope="module")
def photo(sample_image_path):
    return Image.open(sample_image_path).convert("RGB").resize((451, 300))


@pytest.fixture(scope="module")
def engine64(tiny_model_dir):
    from uffizi.engine import Engine

    eng = Engine.from_pretrained(str(tiny_model_dir), device="cpu", dtype="float64",
                                 max_batch_size=8, max_wait_ms=300)
    yield eng
    eng.close()


def _in_bounds(det, w, h):
    flat = (det.bbox or []) + (det.quad or []) + [v for p in det.polygons or [] for v in p]
    xs, ys = flat[0::2], flat[1::2]
    return all(0 <= x <= w for x in xs) and all(0 <= y <= h for y in ys)


@pytest.mark.parametrize("task", BUILTIN_TASKS, ids=lambda t: t.token)
def test_every_task_answers_in_image_pixels(tiny_engine, photo, task):
    w, h = photo.size
    r = tiny_engine.run(photo, task.token, max_new_tokens=N, min_new_tokens=N,
                        **_inputs(task, photo.size))
    assert r.task == task.token and r.image_size == (w, h)
    assert r.tokens == N
    assert any("max_new_tokens" in x for x in r.warnings)  # forced length is flagged
    assert 0.0 < r.text_score <= 1.0
    for det in r.detections:
        assert _in_bounds(det, w, h), det
        assert 0.0 <= det.score <= 1.0
    if task.shape is ResultShape.TEXT:
        assert r.detections == []


def test_engine_equals_the_plain_transformers_call(tiny_engine, tiny_model_dir, photo):
    """Same tokens and same parsed geometry as the model card's processor + generate loop."""
    import torch

    model, proc = tiny_engine.model, tiny_engine.processor
    for token in ["<OD>", "<CAPTION>", "<OCR_WITH_REGION>", "<REGION_TO_SEGMENTATION>",
                  "<CAPTION_TO_PHRASE_GROUNDING>"]:
        task = get_task(token)
        kw = _inputs(task, photo.size)
        r = tiny_engine.run(photo, token, max_new_tokens=N, min_new_tokens=N, **kw)
        suffix = kw.get("text") or (region_text(kw["region"], photo.size) if "region" in kw else "")
        inputs = proc(text=token + suffix, images=photo, return_tensors="pt")
        with torch.inference_mode():
            out = model.generate(**inputs, max_new_tokens=N, min_new_tokens=N, do_sample=False,
                                 num_beams=1)
        text = proc.batch_decode(out, skip_special_tokens=False)[0]
        expected = proc.post_process_generation(text, task=token, image_size=photo.size)[token]
        if task.shape is ResultShape.TEXT:
            assert r.text == expected
        elif "bboxes" in expected and "labels" in expected:
            assert [d.bbox for d in r.detections] == [[float(v) for v in b] for b in expected["bboxes"]]
            assert [d.label for d in r.detections] == expected["labels"]
        elif "quad_boxes" in expected:
            assert [d.quad for d in r.detections] == [[float(v) for v in q] for q in expected["quad_boxes"]]
        elif "polygons" in expected:
            ours = [d.polygons for d in r.detections]
            theirs = [[[float(v) for v in p] for p in ps if len(p) >= 6] for ps in expected["polygons"]]
            assert ours == [t for t in theirs if t]


def test_region_survives_pixel_to_loc_to_pixel_within_one_bin():
    rng = np.random.default_rng(1)
    for _ in range(2000):
        w, h = int(rng.integers(1, 9000)), int(rng.integers(1, 9000))
        box = sorted(rng.uniform(0, w, 2).tolist()), sorted(rng.uniform(0, h, 2).tolist())
        region = [box[0][0], box[1][0], box[0][1], box[1][1]]
        bins = box_to_bins(region, (w, h))
        back = [dequantize(b, w if i % 2 == 0 else h) for i, b in enumerate(bins)]
        for i, (a, b) in enumerate(zip(region, back, strict=True)):
            # within one bin; coordinates come back as whole pixels (truncated, as
            # transformers does), which adds up to one pixel on images under 2000 px
            per_bin = (w if i % 2 == 0 else h) / 1000
            assert abs(a - b) <= max(per_bin, per_bin / 2 + 1) + 1e-9


def test_region_prompt_matches_the_processor(tiny_engine, photo):
    proc = tiny_engine.processor
    for token in ["<REGION_TO_CATEGORY>", "<REGION_TO_DESCRIPTION>", "<REGION_TO_OCR>",
                  "<REGION_TO_SEGMENTATION>", "<OPEN_VOCABULARY_DETECTION>",
                  "<CAPTION_TO_PHRASE_GROUNDING>", "<REFERRING_EXPRESSION_SEGMENTATION>", "<OD>"]:
        task = get_task(token)
        kw = _inputs(task, photo.size)
        ours = build_prompt(task, image_size=photo.size, **kw)
        suffix = kw.get("text") or (region_text(kw["region"], photo.size) if "region" in kw else "")
        assert ours == proc._construct_prompts([token + suffix])[0]


@pytest.fixture
def vision_calls(tiny_engine):
    """The batch sizes of every image encoding while the test runs."""
    calls: list[int] = []
    inner = tiny_engine.model.model.get_image_features

    def counting(*args, **kwargs):
        calls.append(kwargs["pixel_values"].shape[0])
        return inner(*args, **kwargs)

    tiny_engine.model.model.get_image_features = counting
    yield calls
    del tiny_engine.model.model.get_image_features


def test_several_tasks_on_one_image_encode_it_once(tiny_engine, photo, vision_calls):
    results = tiny_engine.run_many(photo, [
        TaskRequest(task="<CAPTION>", max_new_tokens=8),
        TaskRequest(task="<OD>", max_new_tokens=8),
        TaskRequest(task="<OCR>", max_new_tokens=8),
    ])
    assert [r.task for r in results] == ["<CAPTION>", "<OD>", "<OCR>"]
    assert vision_calls == [1]


def test_open_vocabulary_classes_share_one_encoding_and_are_labelled(tiny_engine, photo,
                                                                      vision_calls):
    classes = ["car", "person", "traffic light"]
    r = tiny_engine.detect(photo, classes=classes)
    assert vision_calls == [1]
    assert r.task == "<OPEN_VOCABULARY_DETECTION>" and r.prompt_text == ", ".join(classes)
    assert {d.label for d in r.detections} <= set(classes)
    alone = [tiny_engine.run(photo, "<OPEN_VOCABULARY_DETECTION>", text=c) for c in classes]
    assert len(r.detections) == sum(len(a.detections) for a in alone)


def test_a_failing_image_encoding_fails_that_request_and_the_engine_goes_on(tiny_engine, photo):
    inner = tiny_engine.model.model.get_image_features

    def broken(*args, **kwargs):
        raise RuntimeError("CUDA out of memory (simulated)")

    tiny_engine.model.model.get_image_features = broken
    try:
        with pytest.raises(UffiziError) as err:
            tiny_engine.run(photo, "<CAPTION>", max_new_tokens=4)
    finally:
        tiny_engine.model.model.get_image_features = inner
        del tiny_engine.model.model.get_image_features
    assert err.value.code == "inference_failed"
    assert tiny_engine.run(photo, "<CAPTION>", max_new_tokens=4).task == "<CAPTION>"


def test_a_closed_engine_refuses_new_work(tiny_model_dir, photo):
    from uffizi.engine import Engine

    eng = Engine.from_pretrained(str(tiny_model_dir), device="cpu")
    assert eng.run(photo, "<CAPTION>", max_new_tokens=2).tokens == 2
    eng.close()
    with pytest.raises(UffiziError) as err:
        eng.run(photo, "<CAPTION>", max_new_tokens=2)
    assert err.value.code == "engine_overloaded"


def test_batched_answers_equal_answers_alone_in_float64(engine64, photo):
    rng = np.random.default_rng(3)
    images = [photo] + [Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
                        for w, h in [(320, 240), (97, 411), (640, 480)]]
    jobs = [(img, tok) for img in images for tok in ["<OD>", "<CAPTION>", "<REGION_PROPOSAL>"]]

    def req(img, tok):
        return TaskRequest(task=tok, max_new_tokens=N, min_new_tokens=N)

    alone = [engine64.run_many(img, [req(img, tok)])[0] for img, tok in jobs]
    assert all(r.timings.batch_size == 1 for r in alone)
    barrier = threading.Barrier(len(jobs))

    def together(job):
        barrier.wait()
        return engine64.run_many(job[0], [req(*job)])[0]

    with ThreadPoolExecutor(len(jobs)) as pool:
        batched = list(pool.map(together, jobs))
    assert max(r.timings.batch_size for r in batched) > 1  # they really were batched
    for a, b in zip(alone, batched, strict=True):
        assert a.text == b.text
        assert [d.model_dump() for d in a.detections] == [d.model_dump() for d in b.detections]
    assert len({r.text for r in alone}) > 3  # answers depend on image and task


def test_many_threads_at_once(tiny_engine, photo):
    def call(i):
        return tiny_engine.run(photo, ["<OD>", "<CAPTION>", "<OCR>"][i % 3], max_new_tokens=6)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(call, range(24)))
    assert [r.task for r in results] == [["<OD>", "<CAPTION>", "<OCR>"][i % 3] for i in range(24)]


@pytest.mark.parametrize("kwargs, code", [
    ({"task": "<NOPE>"}, "unknown_task"),
    ({"task": "<CAPTION_TO_PHRASE_GROUNDING>"}, "missing_task_input"),
    ({"task": "<REGION_TO_CATEGORY>"}, "missing_task_input"),
    ({"task": "<CAPTION>", "text": "extra"}, "missing_task_input"),
    ({"task": "<REGION_TO_CATEGORY>", "region": [500, 400, 900, 600]}, "invalid_region"),
    ({"task": "<REGION_TO_CATEGORY>", "region": [50, 40, 10, 60]}, "invalid_region"),
    ({"task": "<CAPTION>", "adapter": "radiology"}, "unknown_adapter"),
])
def test_bad_requests_get_typed_errors(tiny_engine, photo, kwargs, code):
    with pytest.raises(UffiziError) as err:
        tiny_engine.run(photo, **kwargs)
    assert err.value.code == code
    assert len(err.value.message) > 20


def test_region_partly_outside_is_clipped_not_refused(tiny_engine, photo):
    r = tiny_engine.run(photo, "<REGION_TO_CATEGORY>", region=[-20, -5, 100, 5000], max_new_tokens=4)
    assert r.region == [0.0, 0.0, 100.0, 300.0]
