"""claim_job and the lease: oldest first, exactly once under threads and processes, lease
expiry, max_attempts, and only the lease owner renews, reports and finishes."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from uffizi.store import jobs as J
from uffizi.store.db import Database

WORKER = Path(__file__).with_name("claim_worker.py")


def _submit(db: Database, n: int, **kw) -> list[str]:
    with db.session() as s:
        return [J.create_job(s, tenant="t", pipeline="core/florence@v1", options={}, inputs=[],
                             provenance={}, **kw)[0].id for _ in range(n)]


def test_claims_the_oldest_pending_job_first(db: Database):
    ids = _submit(db, 3)
    with db.session() as s:
        job = J.claim_job(s, owner="r1", lease_s=30)
        assert job.id == ids[0] and job.status == "running" and job.attempts == 1
        assert job.lease_owner == "r1" and job.started_at is not None
        assert job.lease_expires_at > job.started_at
        assert J.claim_job(s, owner="r1", lease_s=30, job_id=ids[2]).id == ids[2]  # by id
        assert J.claim_job(s, owner="r2", lease_s=30, job_id=ids[2]) is None  # held
        assert J.claim_job(s, owner="r1", lease_s=30).id == ids[1]
        assert J.claim_job(s, owner="r1", lease_s=30) is None  # nothing left


def test_many_threads_claim_each_job_exactly_once(db: Database):
    ids = set(_submit(db, 120))
    barrier = threading.Barrier(12)
    claims: list[tuple[str, str]] = []
    errors: list[BaseException] = []

    def work(owner: str) -> None:
        barrier.wait()
        try:
            while True:
                with db.session() as s:
                    job = J.claim_job(s, owner=owner, lease_s=60)
                if job is None:
                    return
                claims.append((job.id, owner))
        except BaseException as exc:  # pragma: no cover - reported by the assertion
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"thread-{i}",)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    counts = Counter(job_id for job_id, _ in claims)
    assert set(counts) == ids and max(counts.values()) == 1
    with db.session() as s:
        for job_id, owner in claims:
            job = J.get_job(s, job_id)
            assert job.status == "running" and job.attempts == 1 and job.lease_owner == owner


def test_threads_racing_for_one_job_by_id(db: Database):
    for _ in range(5):
        (job_id,) = _submit(db, 1)
        barrier = threading.Barrier(10)
        won: list[str] = []

        def race(owner: str, job_id: str = job_id, barrier: threading.Barrier = barrier,
                 won: list[str] = won) -> None:
            barrier.wait()
            with db.session() as s:
                if J.claim_job(s, owner=owner, lease_s=60, job_id=job_id) is not None:
                    won.append(owner)

        threads = [threading.Thread(target=race, args=(f"r{i}",)) for i in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(won) == 1


@pytest.mark.slow
def test_several_processes_claim_each_job_exactly_once(db: Database, db_url: str):
    ids = set(_submit(db, 150))
    start_at = time.time() + 3.0  # every process imports, connects, then starts together
    procs = [subprocess.Popen([sys.executable, str(WORKER), db_url, f"proc{i}", str(start_at), "3"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(3)]
    outputs = [p.communicate(timeout=120) for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
    claims = [line.split() for out, _ in outputs for line in out.splitlines() if line.strip()]
    counts = Counter(job_id for job_id, _ in claims)
    assert set(counts) == ids and max(counts.values()) == 1
    assert len({owner.split("/")[0] for _, owner in claims}) >= 2  # the work was shared
    with db.session() as s:
        for job_id, owner in claims:
            assert J.get_job(s, job_id).lease_owner == owner


def test_an_expired_lease_is_claimed_again_and_the_old_owner_is_out(db: Database):
    (job_id,) = _submit(db, 1)
    with db.session() as s:
        assert J.claim_job(s, owner="dead", lease_s=0.2).attempts == 1
        assert J.claim_job(s, owner="alive", lease_s=30) is None  # the lease still holds
        time.sleep(0.3)
        again = J.claim_job(s, owner="alive", lease_s=30)
        assert again.id == job_id and again.attempts == 2 and again.lease_owner == "alive"
        assert J.renew_lease(s, job_id, owner="dead", lease_s=30) is False
        assert J.set_progress(s, job_id, owner="dead", progress=0.9) is False
        assert J.finish_job(s, job_id, owner="dead", status="succeeded") is None
        assert J.renew_lease(s, job_id, owner="alive", lease_s=30) is True
        assert J.set_progress(s, job_id, owner="alive", progress=0.5, detail={"done": 1, "total": 2})
        assert J.get_job(s, job_id).progress == 0.5
        done = J.finish_job(s, job_id, owner="alive", status="succeeded")
        assert done.status == "succeeded" and done.progress == 1.0 and done.attempts == 2
        assert J.finish_job(s, job_id, owner="alive", status="failed") is None  # once only


def test_after_max_attempts_the_job_fails_with_max_attempts_exceeded(db: Database):
    (job_id,) = _submit(db, 1, max_attempts=2)
    with db.session() as s:
        for attempt in (1, 2):
            assert J.claim_job(s, owner=f"r{attempt}", lease_s=0.1).attempts == attempt
            time.sleep(0.15)
        assert J.claim_job(s, owner="r3", lease_s=30) is None
        job = J.get_job(s, job_id)
        assert job.status == "failed" and job.error_code == "max_attempts_exceeded"
        assert "2 times" in job.error_message and job.finished_at is not None


def test_an_expired_job_with_a_cancel_request_is_canceled_not_rerun(db: Database):
    (job_id,) = _submit(db, 1)
    with db.session() as s:
        J.claim_job(s, owner="r1", lease_s=0.1)
        J.request_cancel(s, job_id, tenant="t")
        time.sleep(0.15)
        assert J.claim_job(s, owner="r2", lease_s=30) is None
        assert J.get_job(s, job_id).status == "canceled"


def test_finish_only_final_statuses(db: Database):
    (job_id,) = _submit(db, 1)
    with db.session() as s:
        J.claim_job(s, owner="r1", lease_s=30)
        with pytest.raises(ValueError):
            J.finish_job(s, job_id, owner="r1", status="running")
        job = J.finish_job(s, job_id, owner="r1", status="failed", error_code="corrupt_media",
                           error_message="bad", progress=0.25, provenance={"run": {"attempt": 1}})
        assert job.progress == 0.25 and job.provenance == {"run": {"attempt": 1}}
        assert job.lease_expires_at is None and job.finished_at is not None
