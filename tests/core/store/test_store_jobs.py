"""Job data functions: submit (idempotent), read, list, cancel, retry, delete, counts."""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta, timezone

import pytest
from sqlmodel import select

from uffizi.errors import ArtifactNotFound, IdempotencyConflict, InvalidInput, JobConflict, JobNotFound
from uffizi.store import jobs as J
from uffizi.store.blobs import BlobStore
from uffizi.store.db import Database
from uffizi.store.models import Artifact, IdempotencyKey, Job, utcnow


def _new(s, tenant="acme", **kw):
    args = dict(tenant=tenant, pipeline="core/florence@v1", options={"tasks": ["<CAPTION>"]},
                inputs=[], provenance={"uffizi": "0.1.0"})
    args.update(kw)
    return J.create_job(s, **args)


def test_new_job_id_is_prefixed_26_chars_and_sorts_by_time():
    ids = []
    for _ in range(3):
        ids.append(J.new_job_id())
        time.sleep(0.002)
    assert all(re.fullmatch(r"job_[0-9a-hjkmnp-tv-z]{26}", i) for i in ids)
    assert ids == sorted(ids) and len(set(ids)) == 3


def test_create_and_get(db: Database):
    with db.session() as s:
        job, created = _new(s, webhook_url="https://example.com/hook", timeout_s=60, max_attempts=5)
    assert created and job.status == "pending" and job.attempts == 0 and job.max_attempts == 5
    with db.session() as s:
        got = J.get_job(s, job.id, tenant="acme")
        assert got.options == {"tasks": ["<CAPTION>"]} and got.webhook_url == "https://example.com/hook"
        assert got.created_at.tzinfo == timezone.utc and abs(utcnow() - got.created_at) < timedelta(seconds=30)
        assert J.get_job(s, job.id).id == job.id  # tenant None: any tenant
        with pytest.raises(JobNotFound) as info:
            J.get_job(s, job.id, tenant="other")  # another tenant's job looks absent
        assert info.value.code == "job_not_found" and info.value.status == 404
        with pytest.raises(JobNotFound):
            J.get_job(s, "job_nope")


def test_idempotency_key_returns_the_same_job_and_refuses_another_body(db: Database):
    with db.session() as s:
        first, created = _new(s, idempotency_key="k1", request_hash="h1")
        again, created_again = _new(s, idempotency_key="k1", request_hash="h1")
        assert created and not created_again and again.id == first.id
        other_tenant, created_other = _new(s, tenant="beta", idempotency_key="k1", request_hash="h1")
        assert created_other and other_tenant.id != first.id  # keys are per tenant
        with pytest.raises(IdempotencyConflict) as info:
            _new(s, idempotency_key="k1", request_hash="h2")
        assert info.value.code == "idempotency_key_reused" and info.value.status == 422
        assert J.count_by_status(s)["pending"] == 2


def test_an_expired_idempotency_key_makes_a_new_job(db: Database):
    with db.session() as s:
        first, _ = _new(s, idempotency_key="k", request_hash="h")
        s.execute(IdempotencyKey.__table__.update().values(created_at=utcnow() - timedelta(hours=25)))
        s.commit()
        second, created = _new(s, idempotency_key="k", request_hash="other")
        assert created and second.id != first.id
        third, created = _new(s, idempotency_key="k", request_hash="other")
        assert not created and third.id == second.id


def test_concurrent_submits_with_one_key_give_one_job(db: Database):
    barrier = threading.Barrier(8)
    results, errors = [], []

    def submit() -> None:
        barrier.wait()
        try:
            with db.session() as s:
                job, created = _new(s, idempotency_key="race", request_hash="same")
                results.append((job.id, created))
        except Exception as exc:  # pragma: no cover - reported by the assertion
            errors.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len({job_id for job_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1


def test_list_jobs_newest_first_with_filters_and_cursor(db: Database):
    with db.session() as s:
        ids = [_new(s)[0].id for _ in range(7)]
        _new(s, pipeline="medical/ct@v2")
        _new(s, tenant="beta")
        seen, cursor = [], None
        while True:
            page, cursor = J.list_jobs(s, tenant="acme", pipeline="core/florence", limit=3, cursor=cursor)
            seen += [j.id for j in page]
            if cursor is None:
                break
        assert seen == list(reversed(ids))
        assert [j.pipeline for j in J.list_jobs(s, tenant="acme", pipeline="medical/ct")[0]] == ["medical/ct@v2"]
        assert len(J.list_jobs(s, tenant=None)[0]) == 9
        J.request_cancel(s, ids[0], tenant="acme")
        assert [j.id for j in J.list_jobs(s, tenant="acme", status="canceled")[0]] == [ids[0]]
        later = J.get_job(s, ids[3]).created_at
        after = J.list_jobs(s, tenant="acme", pipeline="core/florence@v1", created_after=later)[0]
        assert {j.id for j in after} == set(ids[3:])
        before = J.list_jobs(s, tenant="acme", created_before=later)[0]
        assert {j.id for j in before} == set(ids[:3])
        with pytest.raises(InvalidInput):
            J.list_jobs(s, tenant="acme", cursor="not-a-cursor")


def test_request_cancel_pending_running_final(db: Database):
    with db.session() as s:
        pending, _ = _new(s)
        canceled = J.request_cancel(s, pending.id, tenant="acme")
        assert canceled.status == "canceled" and canceled.error_code == "canceled" and canceled.finished_at
        running, _ = _new(s)
        assert J.claim_job(s, owner="r1", lease_s=30).id == running.id
        asked = J.request_cancel(s, running.id, tenant="acme")
        assert asked.status == "running" and asked.cancel_requested
        assert J.cancel_requested(s, running.id) is True
        J.finish_job(s, running.id, owner="r1", status="succeeded")
        assert J.request_cancel(s, running.id, tenant="acme").status == "succeeded"
        with pytest.raises(JobNotFound):
            J.request_cancel(s, running.id, tenant="beta")


def test_retry_failed_and_canceled_only(db: Database):
    with db.session() as s:
        job, _ = _new(s, max_attempts=2)
        J.claim_job(s, owner="r1", lease_s=30)
        J.set_progress(s, job.id, owner="r1", progress=0.4)
        J.finish_job(s, job.id, owner="r1", status="failed", error_code="corrupt_media",
                     error_message="truncated", warnings=["w"])
        again = J.retry_job(s, job.id, tenant="acme")
        assert again.status == "pending" and again.attempts == 0 and again.max_attempts == 2
        assert again.error_code is None and again.progress == 0.0 and again.warnings == []
        assert again.started_at is None and again.finished_at is None
        with pytest.raises(JobConflict) as info:
            J.retry_job(s, job.id, tenant="acme")  # pending
        assert info.value.code == "job_not_retryable" and info.value.status == 409
        J.request_cancel(s, job.id, tenant="acme")
        assert J.retry_job(s, job.id, tenant="acme").status == "pending"
        with pytest.raises(JobNotFound):
            J.retry_job(s, job.id, tenant="beta")


def test_delete_removes_row_artifacts_and_unshared_blobs(db: Database, blobs: BlobStore):
    shared, _ = blobs.put_bytes(b"shared input")
    own, _ = blobs.put_bytes(b"own input")
    records, _ = blobs.put_bytes(b"[]")
    art, art_size = blobs.put_bytes(b"artifact bytes")
    with db.session() as s:
        first, _ = _new(s, inputs=[{"name": "a.png", "sha256": shared}, {"name": "b.png", "sha256": own}],
                        idempotency_key="del", request_hash="h")
        second, _ = _new(s, inputs=[{"name": "c.png", "sha256": shared}])
        J.claim_job(s, owner="r1", lease_s=30, job_id=first.id)
        J.finish_job(s, first.id, owner="r1", status="succeeded", records_sha256=records,
                     artifacts=[("overlay.png", "image/png", art, art_size)])
        assert [a.name for a in J.list_artifacts(s, first.id, tenant="acme")] == ["overlay.png"]
        assert J.get_artifact(s, first.id, "overlay.png").sha256 == art
        with pytest.raises(ArtifactNotFound) as info:
            J.get_artifact(s, first.id, "missing.png")
        assert info.value.code == "artifact_not_found" and info.value.details == {"artifact": "missing.png"}
        with pytest.raises(JobNotFound):
            J.delete_job(s, first.id, tenant="beta", blobs=blobs)
        J.delete_job(s, first.id, tenant="acme", blobs=blobs)
        with pytest.raises(JobNotFound):
            J.get_job(s, first.id)
        assert not s.exec(select(Artifact)).all() and not s.exec(select(IdempotencyKey)).all()
        assert blobs.exists(shared) and not blobs.exists(own)
        assert not blobs.exists(records) and not blobs.exists(art)
        assert _new(s, idempotency_key="del", request_hash="h")[1] is True  # the key went with it
        J.delete_job(s, second.id, tenant=None, blobs=blobs)
        assert not blobs.exists(shared)


def test_delete_of_a_running_job_makes_its_runner_stop(db: Database, blobs: BlobStore):
    with db.session() as s:
        job, _ = _new(s)
        J.claim_job(s, owner="r1", lease_s=30)
        J.delete_job(s, job.id, tenant="acme", blobs=blobs)
        assert J.cancel_requested(s, job.id) is True
        assert J.renew_lease(s, job.id, owner="r1", lease_s=30) is False
        assert J.finish_job(s, job.id, owner="r1", status="succeeded") is None


def test_counts_and_queue_depth(db: Database):
    with db.session() as s:
        assert J.count_by_status(s) == {"pending": 0, "running": 0, "succeeded": 0, "failed": 0, "canceled": 0}
        for _ in range(3):
            _new(s)
        _new(s, tenant="beta")
        J.claim_job(s, owner="r", lease_s=30)
        assert J.count_by_status(s)["pending"] == 3 and J.count_by_status(s)["running"] == 1
        assert J.count_by_status(s, tenant="beta") == {"pending": 1, "running": 0, "succeeded": 0,
                                                       "failed": 0, "canceled": 0}
        assert J.queue_depth(s) == 3
        assert len(s.exec(select(Job)).all()) == 4
