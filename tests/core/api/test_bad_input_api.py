"""Each bad request gets its status and stable code, and nothing stored is lost: 413 over the
upload limit, 415 for content that lies about its type, 404 unknown pipeline, 422 bad
options with the field path, 404 unknown adapter, 422 for malformed requests, and a job
whose input cannot be decoded fails with a code and keeps its row and its input."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def live(service):
    live = service(max_upload_bytes=200_000)
    live.wait_ready()
    return live


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["code"] == code and body["message"]
    return body


def test_upload_over_the_limit_is_413(live, make_png):
    with live.client() as c:
        big = b"\x89PNG\r\n\x1a\n" + b"\0" * 300_000
        _error(c.post("/v1/jobs", data={"pipeline": "test/slow"}, files=[("inputs", ("big.png", big))]),
               413, "payload_too_large")

        def chunked():  # no Content-Length: the limit holds while streaming
            for _ in range(40):
                yield b"x" * 10_000

        r = c.post("/v1/jobs", content=chunked(), headers={"content-type": "application/json"})
        _error(r, 413, "payload_too_large")
        assert c.get("/v1/jobs").json()["items"] == []
        assert c.get("/healthz").status_code == 200  # the server is fine


def test_lying_extension_is_415(live, make_png):
    with live.client() as c:
        body = _error(c.post("/v1/jobs", data={"pipeline": "test/slow"},
                             files=[("inputs", ("photo.png", b"#!/bin/sh\necho hi\n" * 10, "image/png"))]),
                      415, "unsupported_media")
        assert "photo.png" in body["message"]
        # one bad input among good ones stores nothing
        r = c.post("/v1/jobs", data={"pipeline": "test/slow"},
                   files=[("inputs", ("ok.png", make_png())), ("inputs", ("scan.jpg", b"%PDF-1.7\n" + b"x" * 50))])
        assert _error(r, 415, "unsupported_media")["message"].startswith("scan.jpg")
        assert c.get("/v1/jobs").json()["items"] == []
        _error(c.post("/v1/jobs", content=b"pipeline=x", headers={"content-type": "text/plain"}),
               415, "unsupported_media")


def test_unknown_pipeline_is_404(live, make_png):
    with live.client() as c:
        body = _error(c.post("/v1/jobs", data={"pipeline": "nope/nothing@v1"}, files=[("inputs", ("a.png", make_png()))]),
                      404, "unknown_pipeline")
        assert "core/florence@v1" in body["details"]["known"]
        _error(c.post("/v1/jobs", data={"pipeline": "core/florence@v9"}, files=[("inputs", ("a.png", make_png()))]),
               404, "unknown_pipeline")


def test_bad_options_are_422_with_the_field_path(live, make_png):
    with live.client() as c:
        body = _error(c.post("/v1/jobs", data={"pipeline": "test/slow", "options": json.dumps({"steps": "many"})},
                             files=[("inputs", ("a.png", make_png()))]), 422, "invalid_options")
        assert body["details"]["errors"][0]["field"] == "options.steps"
        body = _error(c.post("/v1/jobs", json={"pipeline": "core/florence", "options": {"bogus": 1},
                                               "urls": ["https://example.invalid/a.png"]}), 422, "invalid_options")
        assert body["details"]["errors"][0]["field"] == "options.bogus"
        body = _error(c.post("/v1/jobs", data={"pipeline": "test/slow", "options": "[1, 2]"},
                             files=[("inputs", ("a.png", make_png()))]), 422, "invalid_request")
        assert body["details"]["errors"][0]["field"] == "body.options"
        body = _error(c.post("/v1/jobs", json={"options": {}}), 422, "invalid_request")
        assert body["details"]["errors"][0]["field"] == "body.pipeline"
        body = _error(c.post("/v1/jobs", content=b"{not json", headers={"content-type": "application/json"}),
                      422, "invalid_request")
        _error(c.post("/v1/jobs", json={"pipeline": "test/slow"}), 422, "invalid_input")  # no inputs
        body = _error(c.post("/v1/jobs", json={"pipeline": "test/slow", "inputs": [{"name": "a", "data": "@@@"}]}),
                      422, "invalid_input")
        assert "base64" in body["message"]
        assert c.get("/v1/jobs").json()["items"] == []


def test_unknown_adapter_is_404(live, make_png):
    with live.client() as c:
        body = _error(c.post("/v1/infer", data={"task": "<CAPTION>", "adapter": "radiology-v2"},
                             files={"image": ("a.png", make_png())}), 404, "unknown_adapter")
        assert body["details"]["adapter"] == "radiology-v2"
        body = _error(c.post("/v1/infer", json={"task": "<CAPTION>", "adapter": "x", "image": "aGk="}),
                      404, "unknown_adapter")


def test_undecodable_input_fails_the_job_and_keeps_its_row(live, make_png):
    truncated = make_png(200, 150)[:120]  # a PNG header and a cut-off body
    with live.client() as c:
        r = c.post("/v1/jobs", data={"pipeline": "core/florence"}, files=[("inputs", ("cut.png", truncated))])
        assert r.status_code == 202, r.text
        job = live.wait_job(c, r.json()["id"])
        assert job["status"] == "failed"
        assert job["error"]["code"] in ("corrupt_media", "unsupported_media")
        assert "Traceback" not in job["error"]["message"]
        again = c.get(f"/v1/jobs/{job['id']}").json()
        assert again["status"] == "failed" and again["inputs"][0]["name"] == "cut.png"
        assert live.state.blobs.exists(again["inputs"][0]["sha256"])  # the input is kept
        assert c.post(f"/v1/jobs/{job['id']}/retry").status_code == 200  # and can be retried


def test_unknown_route_and_method(live):
    with live.client() as c:
        _error(c.get("/v1/nothing"), 404, "not_found")
        _error(c.put("/v1/jobs"), 405, "method_not_allowed")
        _error(c.get("/v1/jobs/job_doesnotexist"), 404, "job_not_found")
