"""The one task's error handling (no services): transient errors are retried with backoff,
bad input never is, out-of-memory puts the job back to pending and tries again."""

from __future__ import annotations

from types import SimpleNamespace

import pytest


@pytest.fixture
def task(monkeypatch):
    """`run_job` with this process's resources replaced by fakes; `calls` counts execute_job."""
    from uffizi_worker import tasks

    calls: list[str] = []
    monkeypatch.setattr(tasks, "resources", lambda: {
        "settings": SimpleNamespace(lease_s=5.0), "platform": object(), "db": object(),
        "blobs": object(), "owner": "test:1:abc"})
    monkeypatch.setattr(tasks, "_backoff", lambda retries: 0.0)
    return tasks, calls


def _execute(monkeypatch, outcomes, calls):
    import uffizi.jobs.execute as execute

    def fake(job_id, **kwargs):
        calls.append(job_id)
        outcome = outcomes[min(len(calls), len(outcomes)) - 1]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    monkeypatch.setattr(execute, "execute_job", fake)


def test_a_database_outage_is_retried(task, monkeypatch):
    from sqlalchemy.exc import OperationalError

    tasks, calls = task
    done = SimpleNamespace(status="succeeded", error_code=None, error_message=None, tenant="default")
    _execute(monkeypatch, [OperationalError("SELECT 1", {}, Exception("down")), done], calls)
    result = tasks.run_job.apply(args=["job_1"])
    assert calls == ["job_1", "job_1"]
    assert result.get() == "succeeded"


def test_bad_input_is_never_retried(task, monkeypatch):
    from uffizi.errors import InvalidInput

    tasks, calls = task
    _execute(monkeypatch, [InvalidInput("no")], calls)
    tasks.run_job.apply(args=["job_2"])
    assert calls == ["job_2"]


def test_a_failed_job_is_final_and_not_retried(task, monkeypatch):
    tasks, calls = task
    failed = SimpleNamespace(status="failed", error_code="corrupt_media", error_message="cut",
                             tenant="default")
    _execute(monkeypatch, [failed], calls)
    assert tasks.run_job.apply(args=["job_3"]).get() == "failed"
    assert calls == ["job_3"]


def test_out_of_memory_puts_the_job_back_and_tries_again(task, monkeypatch):
    import uffizi.store.jobs as store

    tasks, calls = task
    oom = SimpleNamespace(status="failed", error_code="internal_error", tenant="default",
                          error_message="the job failed with an internal error (OutOfMemoryError); ...")
    done = SimpleNamespace(status="succeeded", error_code=None, error_message=None, tenant="default")
    _execute(monkeypatch, [oom, done], calls)
    retried: list[str] = []
    monkeypatch.setattr(store, "retry_job", lambda s, job_id, tenant: retried.append(job_id))

    class FakeDb:
        def session(self):
            import contextlib

            return contextlib.nullcontext(None)

    res = tasks.resources()
    monkeypatch.setattr(tasks, "resources", lambda: {**res, "db": FakeDb()})
    assert tasks.run_job.apply(args=["job_4"]).get() == "succeeded"
    assert calls == ["job_4", "job_4"] and retried == ["job_4"]
