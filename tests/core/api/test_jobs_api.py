"""The job lifecycle over HTTP on a real server: submit (multipart, JSON + base64), events,
result through the exporters, artifacts, list + filters + pagination, cancel, retry, delete;
on SQLite and on PostgreSQL."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest


def _events(client: httpx.Client, job_id: str) -> list[tuple[str, dict]]:
    out, event = [], "message"
    with client.stream("GET", f"/v1/jobs/{job_id}/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                out.append((event, json.loads(line.split(":", 1)[1])))
    return out


def test_submit_events_result_artifacts(service, backend, make_png):
    live = service(backend)
    live.wait_ready()
    with live.client() as c:
        r = c.post("/v1/jobs", data={"pipeline": "core/florence",
                                     "options": json.dumps({"tasks": ["<CAPTION>", "<OD>"]})},
                   files=[("inputs", ("one.png", make_png(seed=1), "image/png")),
                          ("inputs", ("two.png", make_png(seed=2), "image/png"))])
        assert r.status_code == 202, r.text
        job = r.json()
        assert r.headers["location"] == f"/v1/jobs/{job['id']}"
        assert job["status"] == "pending" and job["pipeline"] == "core/florence@v1"
        assert [i["name"] for i in job["inputs"]] == ["one.png", "two.png"]
        prov = job["provenance"]
        assert prov["pipeline"] == {"id": "core/florence@v1", "name": "core/florence", "version": 1}
        assert prov["versions"]["uffizi"] and prov["versions"]["torch"] and prov["versions"]["transformers"]
        assert [i["sha256"] for i in prov["inputs"]] == [i["sha256"] for i in job["inputs"]]
        assert prov["model"]["id"]

        events = _events(c, job["id"])
        kinds = [e for e, _ in events]
        assert kinds[-1] == "end" and events[-1][1] == {"status": "succeeded"}
        assert "status" in kinds and "progress" in kinds
        assert [d["progress"] for e, d in events if e == "progress"][-1] == 1.0

        done = c.get(f"/v1/jobs/{job['id']}").json()
        assert done["status"] == "succeeded" and done["attempts"] == 1 and done["run_s"] is not None
        doc = c.get(f"/v1/jobs/{job['id']}/result", params={"format": "json"})
        assert doc.status_code == 200 and doc.headers["content-type"].startswith("application/json")
        records = doc.json()["records"]
        assert len(records) == 2 and {len(r["results"]) for r in records} == {2}
        png = c.get(f"/v1/jobs/{job['id']}/result", params={"format": "png"})
        assert png.status_code == 200 and png.headers["content-type"] == "application/zip"  # 2 images
        bad = c.get(f"/v1/jobs/{job['id']}/result", params={"format": "nope"})
        assert bad.status_code == 404 and bad.json()["error"]["code"] == "unknown_format"

        slow = c.post("/v1/jobs", json={"pipeline": "test/slow", "options": {"steps": 3, "delay_s": 0},
                                        "inputs": [{"name": "x.png", "data": base64.b64encode(make_png()).decode()}]})
        assert slow.status_code == 202, slow.text
        finished = live.wait_job(c, slow.json()["id"])
        assert finished["status"] == "succeeded"
        assert [a["name"] for a in finished["artifacts"]] == ["summary.txt"]
        art = c.get(finished["artifacts"][0]["url"])
        assert art.status_code == 200 and art.content == b"3 steps" and art.headers["content-type"].startswith("text/plain")
        missing = c.get(f"/v1/jobs/{slow.json()['id']}/artifacts/nope.txt")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "artifact_not_found"


def test_list_filters_and_pages(service, backend, make_png):
    live = service(backend, runners=0)
    with live.client() as c:
        ids = [c.post("/v1/jobs", data={"pipeline": "test/slow@v1"},
                      files=[("inputs", ("a.png", make_png(seed=i)))]).json()["id"] for i in range(5)]
        ids.append(c.post("/v1/jobs", data={"pipeline": "core/florence@v1"},
                          files=[("inputs", ("a.png", make_png()))]).json()["id"])
        seen, cursor = [], None
        while True:
            page = c.get("/v1/jobs", params={"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
            seen += [j["id"] for j in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert seen == list(reversed(ids))  # newest first, each once
        slow = c.get("/v1/jobs", params={"pipeline": "test/slow"}).json()["items"]
        assert len(slow) == 5
        assert c.get("/v1/jobs", params={"status": "succeeded"}).json()["items"] == []
        after = c.get("/v1/jobs", params={"created_after": "2999-01-01T00:00:00Z"}).json()["items"]
        assert after == []
        bad = c.get("/v1/jobs", params={"status": "bogus"})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"
        assert bad.json()["error"]["details"]["errors"][0]["field"] == "query.status"


def test_cancel_retry_delete(service, backend, make_png):
    live = service(backend, runners=1)
    live.wait_ready()
    with live.client() as c:
        running = c.post("/v1/jobs", json={"pipeline": "test/slow", "options": {"steps": 400, "delay_s": 0.02},
                                           "inputs": [{"name": "a.png", "data": base64.b64encode(make_png()).decode()}]}).json()
        pending = c.post("/v1/jobs", data={"pipeline": "test/slow"},
                         files=[("inputs", ("b.png", make_png(seed=3)))]).json()
        deadline = time.monotonic() + 30
        while c.get(f"/v1/jobs/{running['id']}").json()["progress"] <= 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        canceled = c.post(f"/v1/jobs/{pending['id']}/cancel").json()
        # the pending one may have been claimed already if the runner is fast; both end canceled
        assert canceled["cancel_requested"] or canceled["status"] == "canceled"
        c.post(f"/v1/jobs/{running['id']}/cancel")
        ended = live.wait_job(c, running["id"])
        assert ended["status"] == "canceled" and ended["error"]["code"] == "canceled"
        assert 0 < ended["progress"] < 1

        conflict = c.post(f"/v1/jobs/{live.wait_job(c, pending['id'])['id']}/retry")
        assert conflict.status_code == 200  # canceled: retryable
        again = live.wait_job(c, pending["id"])
        assert again["status"] == "succeeded"
        not_retryable = c.post(f"/v1/jobs/{pending['id']}/retry")
        assert not_retryable.status_code == 409 and not_retryable.json()["error"]["code"] == "job_not_retryable"

        blobs = live.state.blobs
        digests = [i["sha256"] for i in again["inputs"]]
        assert all(blobs.exists(d) for d in digests)
        assert c.delete(f"/v1/jobs/{pending['id']}").status_code == 204
        assert c.get(f"/v1/jobs/{pending['id']}").status_code == 404
        assert not any(blobs.exists(d) for d in digests)
        assert c.delete(f"/v1/jobs/{pending['id']}").json()["error"]["code"] == "job_not_found"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_result_before_success_is_409(service, backend, make_png):
    live = service(backend, runners=0)
    with live.client() as c:
        job = c.post("/v1/jobs", data={"pipeline": "test/slow"}, files=[("inputs", ("a.png", make_png()))]).json()
        r = c.get(f"/v1/jobs/{job['id']}/result")
        assert r.status_code == 409 and r.json()["error"]["code"] == "job_not_finished"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_events_stream_progress_to_the_end(service, backend, make_png):
    live = service(backend, runners=1)
    live.wait_ready()
    with live.client() as c:
        assert c.get("/v1/jobs/job_nope/events").json()["error"]["code"] == "job_not_found"
        job = c.post("/v1/jobs", data={"pipeline": "test/slow", "options": '{"steps": 30, "delay_s": 0.06}'},
                     files=[("inputs", ("a.png", make_png()))]).json()
        events = _events(c, job["id"])
    progress = [d["progress"] for e, d in events if e == "progress"]
    statuses = [d["status"] for e, d in events if e == "status"]
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert len([p for p in progress if 0 < p < 1]) >= 2, progress  # seen while it ran
    assert statuses[-1] == "succeeded" and "running" in statuses
    assert events[-1] == ("end", {"status": "succeeded"})
    assert [e for e, d in events if e == "status" and d["status"] == "succeeded"]
    final = [d for e, d in events if e == "status"][-1]
    assert [a["name"] for a in final["artifacts"]] == ["summary.txt"]
    detail = [d["detail"] for e, d in events if e == "progress"][-1]
    assert detail == {"done": 30, "total": 30}
