"""Many clients at once: 100 concurrent submissions give 100 distinct jobs that all finish;
the Idempotency-Key makes a retried submission one job, and a reused key with another body
is refused; on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx


def test_100_concurrent_submissions_all_finish(service, backend, make_png):
    live = service(backend, runners=2)
    image = make_png(32, 24)

    def submit(i: int) -> httpx.Response:
        with live.client() as c:
            return c.post("/v1/jobs", data={"pipeline": "core/florence@v1",
                                            "options": json.dumps({"tasks": ["<CAPTION>"], "max_new_tokens": 4})},
                          files=[("inputs", (f"img{i}.png", image, "image/png"))])

    with ThreadPoolExecutor(32) as pool:
        responses = list(pool.map(submit, range(100)))
    assert [r.status_code for r in responses] == [202] * 100, [r.text for r in responses if r.status_code != 202][:3]
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 100
    deadline = time.monotonic() + 300
    with live.client() as c:
        while time.monotonic() < deadline:
            counts = {s: len(c.get("/v1/jobs", params={"status": s, "limit": 1000}).json()["items"])
                      for s in ("succeeded", "failed", "canceled")}
            if sum(counts.values()) == 100:
                break
            time.sleep(0.5)
        assert counts == {"succeeded": 100, "failed": 0, "canceled": 0}
        listed = {j["id"] for j in c.get("/v1/jobs", params={"limit": 1000}).json()["items"]}
        assert listed == ids
        metrics = c.get("/metrics").text
        assert 'uffizi_jobs{status="succeeded"} 100.0' in metrics
        assert "uffizi_queue_depth 0.0" in metrics


def test_idempotency_key(service, backend, make_png):
    live = service(backend, runners=0)
    image = make_png()
    with live.client() as c:
        def post(key: str, options: dict, content: bytes = image) -> httpx.Response:
            return c.post("/v1/jobs", headers={"Idempotency-Key": key},
                          data={"pipeline": "test/slow", "options": json.dumps(options)},
                          files=[("inputs", ("a.png", content, "image/png"))])

        first = post("key-1", {"steps": 2})
        second = post("key-1", {"steps": 2})
        assert first.status_code == second.status_code == 202
        assert first.json()["id"] == second.json()["id"]
        assert second.headers.get("idempotent-replayed") == "true"
        assert "idempotent-replayed" not in first.headers
        # the same request as JSON with base64 is the same request
        import base64

        as_json = c.post("/v1/jobs", headers={"Idempotency-Key": "key-1"},
                         json={"pipeline": "test/slow@v1", "options": {"steps": 2},
                               "inputs": [{"name": "a.png", "data": base64.b64encode(image).decode()}]})
        assert as_json.status_code == 202 and as_json.json()["id"] == first.json()["id"]

        for changed in (post("key-1", {"steps": 3}), post("key-1", {"steps": 2}, make_png(seed=9))):
            assert changed.status_code == 422
            assert changed.json()["error"]["code"] == "idempotency_key_reused"
        other = post("key-2", {"steps": 2})
        assert other.status_code == 202 and other.json()["id"] != first.json()["id"]
        assert len(c.get("/v1/jobs").json()["items"]) == 2

        with ThreadPoolExecutor(8) as pool:  # the same key at the same moment: still one job
            racing = list(pool.map(lambda _: post("key-3", {"steps": 1}), range(8)))
        assert {r.status_code for r in racing} == {202}
        assert len({r.json()["id"] for r in racing}) == 1
        bad = c.post("/v1/jobs", headers={"Idempotency-Key": "x" * 300}, data={"pipeline": "test/slow"},
                     files=[("inputs", ("a.png", image))])
        assert bad.status_code == 422
