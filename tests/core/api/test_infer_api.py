"""`POST /v1/infer` on the real engine (tiny checkpoint): multipart and base64 JSON, text,
region and class-list tasks, validation through the task table, and concurrent calls meeting
in the engine's batcher."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor

import pytest


@pytest.fixture
def live(service):
    live = service(runners=0, max_wait_ms=200.0, max_batch_size=8)
    live.wait_ready()
    return live


def test_multipart_and_json(live, make_png):
    image = make_png(80, 60)
    with live.client() as c:
        r = c.post("/v1/infer", data={"task": "<OD>"}, files={"image": ("a.png", image, "image/png")})
        assert r.status_code == 200, r.text
        result = r.json()
        assert result["task"] == "<OD>" and result["image_size"] == [80, 60]
        assert all(0 <= d["score"] <= 1 for d in result["detections"])
        r = c.post("/v1/infer", json={"task": "caption", "image": base64.b64encode(image).decode()})
        assert r.status_code == 200 and r.json()["task"] == "<CAPTION>"
        r = c.post("/v1/infer", data={"task": "<REGION_TO_DESCRIPTION>", "region": "10,10,40,40"},
                   files={"image": ("a.png", image)})
        assert r.status_code == 200 and r.json()["region"] == [10, 10, 40, 40]
        r = c.post("/v1/infer", data={"task": "<OPEN_VOCABULARY_DETECTION>", "classes": "car,bus"},
                   files={"image": ("a.png", image)})
        assert r.status_code == 200 and r.json()["prompt_text"] == "car, bus"
        assert {d["label"] for d in r.json()["detections"]} <= {"car", "bus"}
        r = c.post("/v1/infer", json={"task": "<CAPTION_TO_PHRASE_GROUNDING>", "text": "a red box",
                                      "image": base64.b64encode(image).decode(), "max_new_tokens": 8})
        assert r.status_code == 200 and r.json()["tokens"] <= 8


@pytest.mark.parametrize(("fields", "code", "field"), [
    ({"task": "<NOPE>"}, "unknown_task", None),
    ({"task": "<CAPTION_TO_PHRASE_GROUNDING>"}, "missing_task_input", None),
    ({"task": "<CAPTION>", "text": "no text here"}, "missing_task_input", None),
    ({"task": "<REGION_TO_OCR>", "region": "1,2,3"}, "invalid_request", "body.region"),
    ({"task": "<REGION_TO_OCR>", "region": "50,50,10,10"}, "invalid_region", None),
    ({"task": "<OD>", "classes": "car"}, "missing_task_input", None),
    ({"text": "x"}, "invalid_request", "body.task"),
])
def test_bad_requests(live, make_png, fields, code, field):
    with live.client() as c:
        r = c.post("/v1/infer", data=fields, files={"image": ("a.png", make_png())})
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert error["code"] == code
        if field:
            assert error["details"]["errors"][0]["field"] == field


def test_image_problems(live, make_png):
    with live.client() as c:
        r = c.post("/v1/infer", data={"task": "<CAPTION>"}, files={"image": ("a.png", b"hello, not an image")})
        assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media"
        r = c.post("/v1/infer", json={"task": "<CAPTION>"})
        assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "image"
        r = c.post("/v1/infer", json={"task": "<CAPTION>", "image": "!!"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input"
        r = c.post("/v1/infer", data={"task": "<CAPTION>"}, files={"image": ("a.png", make_png(200, 200)[:90])})
        assert r.status_code == 422 and r.json()["error"]["code"] == "corrupt_media"


def test_concurrent_calls_are_batched(live, make_png):
    images = [make_png(48, 48, seed=i) for i in range(8)]

    def call(image: bytes) -> dict:
        with live.client() as c:
            r = c.post("/v1/infer", data={"task": "<CAPTION>", "max_new_tokens": "4"},
                       files={"image": ("a.png", image)})
            assert r.status_code == 200, r.text
            return r.json()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(call, images))
    assert max(r["timings"]["batch_size"] for r in results) > 1
    metrics = live.client().get("/metrics").text
    assert "uffizi_inference_batch_size_bucket" in metrics
    count = [line for line in metrics.splitlines() if line.startswith("uffizi_images_total")]
    assert count and float(count[0].split()[-1]) >= 8
