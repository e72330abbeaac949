"""InProcessRunner and the built-in make_runner; a runner process killed with SIGKILL in the
middle of a job: the job is claimed again after its lease expires and finishes once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from uffizi.jobs.runner import InProcessRunner, InProcessRunnerFactory
from uffizi.platform import Platform
from uffizi.settings import Settings
from uffizi.store import jobs as J
from uffizi.store.db import Database

WORKER = Path(__file__).with_name("hold_worker.py")


def _wait_final(db: Database, job_ids: list[str], timeout: float = 60.0) -> list:
    deadline = time.monotonic() + timeout
    while True:
        with db.session() as s:
            jobs = [J.get_job(s, job_id) for job_id in job_ids]
        if all(job.status in J.FINAL for job in jobs) or time.monotonic() > deadline:
            return jobs
        time.sleep(0.05)


def test_make_runner_returns_the_in_process_factory(tmp_path, db, blobs):
    settings = Settings(home=tmp_path, load_plugins="", runners=3, lease_s=12)
    platform = Platform(settings)
    factory = platform.pm.hook.make_runner(settings=settings)
    assert isinstance(factory, InProcessRunnerFactory)
    runner = factory.bind(platform, db, blobs)
    assert isinstance(runner, InProcessRunner)
    assert (runner.threads, runner.lease_s) == (3, 12.0)


def test_the_runner_runs_submitted_jobs_on_its_threads(platform, db, blobs, submit, photo):
    runner = InProcessRunner(platform, db, blobs, threads=2, lease_s=5, poll_s=30).start()
    try:
        started = time.monotonic()
        ids = []
        for _ in range(4):
            ids.append(submit("core/florence@v1", [photo]))
            runner.notify(ids[-1])  # poll_s is 30 s: only the notify wakes a thread
        jobs = _wait_final(db, ids)
        assert [j.status for j in jobs] == ["succeeded"] * 4, [j.error_message for j in jobs]
        assert time.monotonic() - started < 30
        assert {j.lease_owner.rsplit("/", 1)[0] for j in jobs} == {runner.owner}
    finally:
        assert runner.stop(timeout=30) is True
    assert not runner.running and runner.active_jobs == []


def test_stop_with_no_threads_and_idle_polling(platform, db, blobs, submit, photo):
    idle = InProcessRunner(platform, db, blobs, threads=0, lease_s=5).start()
    assert idle.stop(1) is True
    runner = InProcessRunner(platform, db, blobs, threads=1, lease_s=5, poll_s=0.1).start()
    try:
        job_id = submit("core/florence@v1", [photo])  # no notify: found by polling
        (job,) = _wait_final(db, [job_id])
        assert job.status == "succeeded"
    finally:
        runner.stop(30)


def _spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(WORKER), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=WORKER.parent)


def _read_line(proc: subprocess.Popen, timeout: float = 120.0) -> str:
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    if not sel.select(timeout):
        proc.kill()
        raise AssertionError(f"no output from the worker; stderr: {proc.stderr.read()[-2000:]}")
    line = proc.stdout.readline()
    if not line:
        raise AssertionError(f"the worker exited: {proc.wait()}; stderr: {proc.stderr.read()[-2000:]}")
    return line.strip()


def _kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(30) == -signal.SIGKILL


@pytest.mark.slow
def test_a_runner_killed_mid_job_leaves_it_to_the_next_runner(platform, db, db_url, blobs, submit,
                                                              photo, tiny_model_dir, tmp_path):
    lease_s = 1.5
    job_id = submit("core/florence@v1", [photo])
    other_id = submit("core/florence@v1", [photo])
    proc = _spawn("execute", db_url, job_id, str(lease_s), str(tiny_model_dir), str(tmp_path / "child"),
                  str(blobs.root))
    try:
        assert _read_line(proc) == f"hanging {job_id} 1"
        time.sleep(lease_s)  # the child's monitor keeps the lease alive while it hangs
        with db.session() as s:
            held = J.get_job(s, job_id)
            assert held.status == "running" and held.lease_owner == "doomed-execute"
            assert held.lease_expires_at > J.utcnow()
    finally:
        _kill(proc)
    runner = InProcessRunner(platform, db, blobs, threads=1, lease_s=lease_s, poll_s=0.1).start()
    try:
        job, other = _wait_final(db, [job_id, other_id])
    finally:
        runner.stop(30)
    assert job.status == "succeeded" and job.attempts == 2, job.error_message
    assert job.lease_owner.startswith(runner.owner) and job.provenance["run"]["attempt"] == 2
    assert blobs.exists(job.records_sha256)
    assert other.status == "succeeded" and other.attempts == 1  # nothing else was lost


@pytest.mark.slow
def test_after_max_attempts_killed_runners_the_job_fails(platform, db, db_url, blobs, submit, photo):
    lease_s = 0.6
    job_id = submit("core/florence@v1", [photo], max_attempts=2)
    for attempt in (1, 2):
        proc = _spawn("hold", db_url, job_id, str(lease_s))
        try:
            assert _read_line(proc, timeout=60) == f"claimed {job_id} {attempt}"
        finally:
            _kill(proc)
        time.sleep(lease_s + 0.2)
    runner = InProcessRunner(platform, db, blobs, threads=1, lease_s=5, poll_s=0.1).start()
    try:
        (job,) = _wait_final(db, [job_id], timeout=20)
    finally:
        runner.stop(30)
    assert job.status == "failed" and job.error_code == "max_attempts_exceeded"
    assert job.attempts == 2 and blobs.exists(job.inputs[0]["sha256"])
