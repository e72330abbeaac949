"""`uffizi.client.Client` against a real server: submit files and bytes, wait with progress,
results, artifacts, list pages, cancel, retry, delete, infer, and errors as `ApiError`."""

from __future__ import annotations

import pytest

from uffizi.client import ApiError, Client
from uffizi.errors import UffiziError


@pytest.fixture
def live(service):
    live = service(runners=1)
    live.wait_ready()
    return live


def test_submit_wait_result(live, tmp_path, make_png):
    photo = tmp_path / "photo.png"
    photo.write_bytes(make_png(64, 64))
    with Client(live.url) as client:
        job = client.submit("core/florence", [photo, make_png(seed=4)], options={"tasks": ["<CAPTION>"]},
                            idempotency_key="k1")
        assert [i["name"] for i in job["inputs"]] == ["photo.png", "input-1"]
        assert client.submit("core/florence", [photo, make_png(seed=4)], options={"tasks": ["<CAPTION>"]},
                             idempotency_key="k1")["id"] == job["id"]
        seen: list[float] = []
        done = client.wait(job["id"], timeout=120, progress=lambda j: seen.append(j["progress"]))
        assert done["status"] == "succeeded" and seen[-1] == 1.0 and seen == sorted(seen)
        result = client.result(job["id"])
        assert len(result["records"]) == 2
        png = client.result(job["id"], format="png")
        assert isinstance(png, bytes) and png[:2] == b"PK"  # two images: a zip
        assert client.get(job["id"])["status"] == "succeeded"


def test_progress_cancel_retry_delete_list(live, make_png):
    with Client(live.url) as client:
        slow = client.submit("test/slow", [make_png()], options={"steps": 200, "delay_s": 0.02})
        updates: list[dict] = []

        def watch(job: dict) -> None:
            updates.append(job)
            if job["progress"] > 0.1 and job["status"] == "running":
                client.cancel(job["id"])

        ended = client.wait(slow["id"], timeout=60, progress=watch)
        assert ended["status"] == "canceled" and any(0 < u["progress"] < 1 for u in updates)
        again = client.retry(slow["id"])
        assert again["status"] == "pending"
        client.cancel(slow["id"])
        short = [client.submit("test/slow", [make_png(seed=i)], options={"steps": 1, "delay_s": 0})["id"]
                 for i in range(3)]
        for job_id in short:
            client.wait(job_id, timeout=60)
        assert [j["id"] for j in client.iter_jobs(limit=2)][:3] == list(reversed(short))
        assert len(client.list(pipeline="test/slow", status="succeeded")["items"]) == 3
        assert client.artifact(short[0], "summary.txt") == b"1 steps"
        client.delete(short[0])
        with pytest.raises(ApiError) as info:
            client.get(short[0])
        assert info.value.status == 404 and info.value.code == "job_not_found"
        assert isinstance(info.value, UffiziError)


def test_infer_and_errors(live, tmp_path, make_png, monkeypatch):
    photo = tmp_path / "p.png"
    photo.write_bytes(make_png())
    with Client(live.url) as client:
        assert client.infer(photo, "<OD>")["task"] == "<OD>"
        answer = client.infer(make_png(), "<OPEN_VOCABULARY_DETECTION>", classes=["cat", "dog"], max_new_tokens=8)
        assert answer["prompt_text"] == "cat, dog"
        assert client.infer(make_png(), "<REGION_TO_CATEGORY>", region=[1, 1, 20, 20])["region"] == [1, 1, 20, 20]
        with pytest.raises(ApiError) as info:
            client.infer(make_png(), "<OD>", adapter="nope")
        assert (info.value.status, info.value.code) == (404, "unknown_adapter")
        with pytest.raises(ApiError) as info:
            client.submit("nope/nope", [make_png()])
        assert info.value.code == "unknown_pipeline" and "known" in info.value.details
        assert {p["id"] for p in client.pipelines()} >= {"core/florence@v1", "test/slow@v1"}
        assert len(client.tasks()) >= 15 and client.health() == {"status": "ok"}
        assert client.ready()["ready"] is True
    with pytest.raises(ApiError) as info:
        Client("http://127.0.0.1:9").get("job_x")
    assert info.value.code == "unreachable"
    monkeypatch.setenv("UFFIZI_URL", live.url)
    with Client() as client:
        assert client.base_url == live.url and client.health()["status"] == "ok"
