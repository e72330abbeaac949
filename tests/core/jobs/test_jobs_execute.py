"""execute_job with the real engine on the tiny checkpoint: success, bad input, cancel between
frames, timeout, an engine that cannot load, internal errors, and throttled progress."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import job_pipelines
import pytest
from sqlalchemy import event

from uffizi.jobs.execute import JobContext, execute_job
from uffizi.platform import Platform
from uffizi.settings import Settings
from uffizi.store import jobs as J
from uffizi.store.blobs import BlobStore
from uffizi.store.db import Database
from uffizi.testing import make_test_image

LEASE_S = 5.0


def _run(job_id: str, platform: Platform, db: Database, blobs: BlobStore, owner: str = "runner-1"):
    return execute_job(job_id, platform=platform, db=db, blobs=blobs, owner=owner, lease_s=LEASE_S)


def _images(tmp_path: Path, n: int) -> list[Path]:
    paths = []
    for i in range(n):
        path = tmp_path / f"shapes-{i}.png"
        make_test_image(160, 120, seed=i).save(path)
        paths.append(path)
    return paths


def test_core_florence_on_a_real_photo(platform, db, blobs, submit, photo):
    job_id = submit("core/florence@v1", [photo], {"tasks": ["<CAPTION>", "<OD>"]})
    job = _run(job_id, platform, db, blobs)
    assert job.status == "succeeded", job.error_message
    assert job.progress == 1.0 and job.attempts == 1 and job.error_code is None
    assert job.lease_expires_at is None and job.finished_at >= job.started_at
    records = json.loads(blobs.path(job.records_sha256).read_bytes())
    assert len(records) == 1 and records[0]["source"] == "astronaut.png"  # the submitted name
    assert [r["task"] for r in records[0]["results"]] == ["<CAPTION>", "<OD>"]
    assert records[0]["results"][0]["image_size"] == [512, 512]
    run = job.provenance["run"]
    assert run["engine"]["random_weights"] is True and run["engine"]["device"] == "cpu"
    assert run["runner"] == "runner-1" and run["attempt"] == 1 and job.provenance["test"] is True
    assert blobs.exists(job.inputs[0]["sha256"])  # the input stays stored


def test_artifacts_are_stored_as_blobs(platform, db, blobs, submit, tmp_path):
    job_id = submit("test/frames@v1", _images(tmp_path, 2))
    job = _run(job_id, platform, db, blobs)
    assert job.status == "succeeded", job.error_message
    with db.session() as s:
        (artifact,) = J.list_artifacts(s, job_id)
    assert (artifact.name, artifact.media_type, artifact.size) == ("summary.txt", "text/plain", 8)
    assert blobs.path(artifact.sha256).read_bytes() == b"2 frames"


def test_a_truncated_image_fails_with_corrupt_media_and_keeps_the_row(platform, db, blobs, submit,
                                                                       photo, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(photo.read_bytes()[: photo.stat().st_size // 3])
    job_id = submit("core/florence@v1", [broken])
    job = _run(job_id, platform, db, blobs)
    assert job.status == "failed" and job.error_code == "corrupt_media"
    assert "Traceback" not in job.error_message and job.records_sha256 is None
    with db.session() as s:
        assert J.get_job(s, job_id).inputs == job.inputs
    assert blobs.exists(job.inputs[0]["sha256"])


def test_cancel_between_frames(platform, db, blobs, submit, tmp_path):
    job_id = submit("test/frames@v1", _images(tmp_path, 3), {"pause_after": 1})
    job_pipelines.PAUSED.clear()
    done: list = []
    runner = threading.Thread(target=lambda: done.append(_run(job_id, platform, db, blobs)))
    runner.start()
    assert job_pipelines.PAUSED.wait(60), "the first frame never finished"
    with db.session() as s:
        running = J.get_job(s, job_id)
        assert running.status == "running" and running.progress == pytest.approx(1 / 3)
        assert running.progress_detail == {"done": 1, "total": 3}  # the first write is immediate
        J.request_cancel(s, job_id, tenant="default")
    runner.join(60)
    (job,) = done
    assert job.status == "canceled" and job.error_code == "canceled"
    assert job.progress == pytest.approx(1 / 3) and job.records_sha256 is None
    assert all(blobs.exists(i["sha256"]) for i in job.inputs)


def test_timeout_fails_with_job_timeout(platform, db, blobs, submit, tmp_path):
    job_id = submit("test/frames@v1", _images(tmp_path, 3), {"sleep_s": 0.4}, timeout_s=0.5)
    job = _run(job_id, platform, db, blobs)
    assert job.status == "failed" and job.error_code == "job_timeout"
    assert "0.5 s" in job.error_message
    assert 0 < job.progress < 1


def test_streaming_pipelines_are_exempt_from_the_timeout(platform, db, blobs, submit, tmp_path):
    job_id = submit("test/stream@v1", _images(tmp_path, 3), {"sleep_s": 0.3}, timeout_s=0.3)
    job = _run(job_id, platform, db, blobs)
    assert job.status == "succeeded", job.error_message


def test_an_engine_that_cannot_load_gives_model_unavailable(db, blobs, submit, photo, tmp_path):
    settings = Settings(model=str(tmp_path / "no-such-model"), home=tmp_path / "home",
                        load_plugins="", device="cpu")
    job_id = submit("core/florence@v1", [photo])
    job = _run(job_id, Platform(settings), db, blobs)
    assert job.status == "failed" and job.error_code == "model_unavailable"
    assert "UFFIZI_MODEL" in job.error_message and "does not exist" in job.error_message
    assert blobs.exists(job.inputs[0]["sha256"])


def test_an_unexpected_error_is_internal_error_without_details(platform, db, blobs, submit, tmp_path):
    job_id = submit("test/frames@v1", _images(tmp_path, 2), {"raise_after": 1})
    job = _run(job_id, platform, db, blobs)
    assert job.status == "failed" and job.error_code == "internal_error"
    assert "RuntimeError" in job.error_message
    assert "patient" not in job.error_message and "Traceback" not in job.error_message
    assert job.progress == pytest.approx(0.5)  # the last progress is kept


def test_an_unknown_pipeline_fails_with_its_code(platform, db, blobs, submit, photo):
    job_id = submit("nowhere/nothing@v1", [photo])
    job = _run(job_id, platform, db, blobs)
    assert job.status == "failed" and job.error_code == "unknown_pipeline"


def test_a_job_someone_else_holds_is_not_run(platform, db, blobs, submit, photo):
    job_id = submit("core/florence@v1", [photo])
    with db.session() as s:
        J.claim_job(s, owner="other", lease_s=60)
    job = _run(job_id, platform, db, blobs)
    assert job.status == "running" and job.lease_owner == "other" and job.attempts == 1


def test_a_job_deleted_while_running_stores_nothing(platform, db, blobs, submit, tmp_path):
    job_id = submit("test/frames@v1", _images(tmp_path, 3), {"pause_after": 1})
    job_pipelines.PAUSED.clear()
    done: list = []
    runner = threading.Thread(target=lambda: done.append(_run(job_id, platform, db, blobs)))
    runner.start()
    assert job_pipelines.PAUSED.wait(60)
    with db.session() as s:
        J.delete_job(s, job_id, tenant=None, blobs=blobs)
    runner.join(60)
    assert done and done[0].id == job_id
    assert list(blobs) == []  # inputs deleted with the job, nothing stored after


def test_progress_writes_are_throttled_and_the_last_one_is_written(db, submit, photo):
    job_id = submit("core/florence@v1", [photo])
    with db.session() as s:
        J.claim_job(s, owner="r", lease_s=60)
    writes: list[str] = []

    def count(conn, cursor, statement, params, context, executemany):
        if statement.startswith("UPDATE jobs SET progress"):
            writes.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        ctx = JobContext("core/florence@v1", db=db, job_id=job_id, owner="r", timeout_s=None,
                         interval_s=0.5)
        for done in range(1, 200):
            ctx.progress(done, 200)
        assert len(writes) == 1  # the first one; the next may only come 0.5 s later
        time.sleep(0.55)
        ctx.progress(150, 200)
        assert len(writes) == 2
        ctx.progress(200, 200)  # the final value is always written
        assert len(writes) == 3
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    with db.session() as s:
        job = J.get_job(s, job_id)
    assert job.progress == 1.0 and job.progress_detail == {"done": 200, "total": 200}
