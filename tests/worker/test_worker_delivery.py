"""Jobs on Celery workers over the real Redis and PostgreSQL: each runs exactly once, a worker
killed mid-job loses nothing, a poisoned job fails once and does not block the queue."""

from __future__ import annotations

import json
import time

import pytest

pytestmark = [pytest.mark.needs_services, pytest.mark.slow]


def _runner_process(job: dict) -> str:
    """host:pid of the worker process that finished the job (the owner is host:pid:tag/thread)."""
    owner = job["provenance"]["run"]["runner"]
    return ":".join(owner.split("/", 1)[0].split(":")[:2])


def test_api_uses_the_celery_runner_when_a_broker_is_set(api):
    from uffizi_worker.runner import CeleryRunner

    assert isinstance(api.state.runner, CeleryRunner)


def test_fifty_jobs_over_rest_two_workers_each_exactly_once(cluster, api, make_png, wait_all):
    cluster.start_worker("w1")
    cluster.start_worker("w2", cli=True)  # `uffizi worker`, the same app through the CLI hook
    with api.client() as c:
        ids = []
        for i in range(50):
            r = c.post("/v1/jobs", data={"pipeline": "core/florence",
                                         "options": json.dumps({"tasks": ["<CAPTION>"]})},
                       files=[("inputs", (f"{i}.png", make_png(seed=i), "image/png"))])
            assert r.status_code == 202, r.text
            ids.append(r.json()["id"])
        jobs = wait_all(c, ids, timeout=75)
    bad = {j: (v["status"], v["attempts"], v["error"]) for j, v in jobs.items()
           if v["status"] != "succeeded" or v["attempts"] != 1}
    assert not bad, bad
    assert len({_runner_process(v) for v in jobs.values()}) == 2  # both workers ran jobs


def test_worker_killed_mid_job_is_redelivered_and_finishes_once(cluster, api, make_png, wait_all):
    w1 = cluster.start_worker("w1", concurrency=1)
    with api.client() as c:
        slow = c.post("/v1/jobs", data={"pipeline": "test/slow",
                                        "options": json.dumps({"steps": 30, "delay_s": 0.1})},
                      files=[("inputs", ("a.png", make_png(), "image/png"))])
        assert slow.status_code == 202, slow.text
        slow_id = slow.json()["id"]
        deadline = time.monotonic() + 30
        while c.get(f"/v1/jobs/{slow_id}").json()["status"] != "running":
            assert time.monotonic() < deadline, cluster.log_tail(w1)
            time.sleep(0.1)
        time.sleep(0.5)
        cluster.kill(w1)  # SIGKILL, mid-job: its message is unacknowledged in Redis
        others = [c.post("/v1/jobs", data={"pipeline": "test/slow",
                                           "options": json.dumps({"steps": 2, "delay_s": 0})},
                         files=[("inputs", (f"{i}.png", make_png(seed=i), "image/png"))]).json()["id"]
                  for i in range(5)]
        cluster.start_worker("w2", concurrency=2)
        jobs = wait_all(c, [slow_id, *others], timeout=70)
    assert jobs[slow_id]["status"] == "succeeded" and jobs[slow_id]["attempts"] == 2, jobs[slow_id]
    for job_id in others:
        assert (jobs[job_id]["status"], jobs[job_id]["attempts"]) == ("succeeded", 1), jobs[job_id]


def test_poisoned_job_fails_once_with_its_code_and_does_not_block_the_queue(cluster, api, make_png, wait_all):
    cluster.start_worker("w1", concurrency=1)
    truncated = make_png(200, 150)[:120]  # a PNG header and a cut-off body
    with api.client() as c:
        poisoned = c.post("/v1/jobs", data={"pipeline": "core/florence"},
                          files=[("inputs", ("cut.png", truncated, "image/png"))])
        assert poisoned.status_code == 202, poisoned.text
        good = [c.post("/v1/jobs", data={"pipeline": "test/slow",
                                         "options": json.dumps({"steps": 2, "delay_s": 0})},
                       files=[("inputs", (f"{i}.png", make_png(seed=i), "image/png"))]).json()["id"]
                for i in range(4)]
        jobs = wait_all(c, [poisoned.json()["id"], *good], timeout=60)
    bad = jobs[poisoned.json()["id"]]
    assert bad["status"] == "failed" and bad["attempts"] == 1, bad
    assert bad["error"]["code"] in ("corrupt_media", "unsupported_media")
    assert all(jobs[j]["status"] == "succeeded" and jobs[j]["attempts"] == 1 for j in good)
