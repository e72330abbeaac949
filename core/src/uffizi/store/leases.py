"""The runner's side of a job row: claim it with a lease, renew, report progress, finish.

Part of the job data functions (import them from `uffizi.store.jobs`, which re-exports these).
Every state change is a conditional UPDATE whose row count decides. `claim_job` gives a job to
exactly one runner: on PostgreSQL the candidate row is taken with `SELECT ... FOR UPDATE SKIP
LOCKED` (runners never queue on one row), on SQLite a conditional `UPDATE ... WHERE status =
... AND attempts = ... [AND lease_expires_at < now]` decides who won. A running job whose lease
expired (its process died) is claimed again, attempts + 1, until `max_attempts`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlmodel import Session

from uffizi.errors import JobNotFound
from uffizi.store.models import Artifact, Job, JobStatus, utcnow

PENDING, RUNNING = JobStatus.pending.value, JobStatus.running.value
SUCCEEDED, FAILED, CANCELED = JobStatus.succeeded.value, JobStatus.failed.value, JobStatus.canceled.value
FINAL = (SUCCEEDED, FAILED, CANCELED)


def cas_update(s: Session, job_id: str, *conditions: Any, **values: Any) -> bool:
    """One conditional UPDATE of a job row; True when it matched (the caller commits)."""
    stmt = update(Job).where(Job.id == job_id, *conditions).values(**values)
    return s.execute(stmt.execution_options(synchronize_session=False)).rowcount == 1


def reload_job(s: Session, job_id: str) -> Job:
    job = s.get(Job, job_id, populate_existing=True)
    if job is None:
        raise JobNotFound(f"no job {job_id!r}")
    s.commit()
    return job


def _take(s: Session, row: Any, owner: str, lease_s: float, now: datetime) -> str:
    """Try to take one candidate: 'claimed', 'retired' (made final) or 'lost' (someone was first)."""
    same = [Job.status == row.status, Job.attempts == row.attempts]
    if row.status == RUNNING:
        same.append(Job.lease_expires_at < now)
    final = {"finished_at": now, "updated_at": now, "lease_expires_at": None}
    if row.status == RUNNING and row.cancel_requested:
        done = cas_update(s, row.id, *same, status=CANCELED, error_code="canceled",
                    error_message="the job was canceled (its runner stopped)", **final)
        return "retired" if done else "lost"
    if row.attempts >= row.max_attempts:
        done = cas_update(s, row.id, *same, status=FAILED, error_code="max_attempts_exceeded",
                    error_message=f"the job was started {row.attempts} times and its runner stopped "
                    f"each time before it finished (max_attempts={row.max_attempts})", **final)
        return "retired" if done else "lost"
    done = cas_update(s, row.id, *same, status=RUNNING, lease_owner=owner, attempts=row.attempts + 1,
                lease_expires_at=now + timedelta(seconds=lease_s), started_at=now, updated_at=now)
    return "claimed" if done else "lost"


def claim_job(s: Session, *, owner: str, lease_s: float, job_id: str | None = None) -> Job | None:
    """Take one job for `owner`: a pending one (oldest first, or `job_id`) or a running one whose
    lease expired. None when there is nothing to take."""
    postgres = s.get_bind().dialect.name == "postgresql"
    for _ in range(100):
        now = utcnow()
        q = select(Job.id, Job.status, Job.attempts, Job.max_attempts, Job.cancel_requested).where(
            or_(Job.status == PENDING, and_(Job.status == RUNNING, Job.lease_expires_at < now)))
        if job_id is not None:
            q = q.where(Job.id == job_id)
        q = q.order_by(Job.created_at, Job.id).limit(1 if postgres else 8)
        if postgres:
            q = q.with_for_update(skip_locked=True, of=Job)
        rows = s.execute(q).all()
        if not rows:
            s.rollback()
            return None
        for row in rows:
            outcome = _take(s, row, owner, lease_s, now)
            if outcome == "lost":
                s.rollback()
                continue
            s.commit()
            if outcome == "claimed":
                return reload_job(s, row.id)
            break  # retired one: look again
    return None


def renew_lease(s: Session, job_id: str, *, owner: str, lease_s: float) -> bool:
    """Extend `owner`'s lease; False when the lease was lost (taken over, finished, deleted)."""
    ok = cas_update(s, job_id, Job.status == RUNNING, Job.lease_owner == owner,
              lease_expires_at=utcnow() + timedelta(seconds=lease_s))
    s.commit()
    return ok


def cancel_requested(s: Session, job_id: str) -> bool:
    """True when the job should stop: cancel requested, canceled, or deleted."""
    row = s.execute(select(Job.cancel_requested, Job.status).where(Job.id == job_id)).first()
    s.commit()
    return row is None or bool(row.cancel_requested) or row.status == CANCELED


def set_progress(s: Session, job_id: str, *, owner: str, progress: float,
                 detail: dict[str, Any] | None = None) -> bool:
    """Record progress (0..1) while `owner` holds the job; False when it does not."""
    ok = cas_update(s, job_id, Job.status == RUNNING, Job.lease_owner == owner,
              progress=max(0.0, min(1.0, float(progress))), progress_detail=detail, updated_at=utcnow())
    s.commit()
    return ok


def finish_job(
    s: Session, job_id: str, *, owner: str, status: str, error_code: str | None = None,
    error_message: str | None = None, records_sha256: str | None = None, warnings: Iterable[str] = (),
    artifacts: Iterable[tuple[str, str, str, int]] = (), progress: float | None = None,
    provenance: dict[str, Any] | None = None,
) -> Job | None:
    """Make the job final (only its lease owner can); None when `owner` no longer holds it.
    `provenance` is merged into the job's; `progress` (or 1.0 on success) is the last value."""
    status = str(getattr(status, "value", status))
    if status not in FINAL:
        raise ValueError(f"finish_job: {status!r} is not a final status")
    current = s.get(Job, job_id, populate_existing=True)
    if current is None:
        s.rollback()
        return None
    now = utcnow()
    values: dict[str, Any] = {
        "status": status, "error_code": error_code, "error_message": error_message,
        "warnings": list(warnings), "finished_at": now, "updated_at": now, "lease_expires_at": None,
    }
    if records_sha256 is not None:
        values["records_sha256"] = records_sha256
    if status == SUCCEEDED or progress is not None:
        values["progress"] = 1.0 if status == SUCCEEDED else max(0.0, min(1.0, progress or 0.0))
    if provenance:
        values["provenance"] = {**(current.provenance or {}), **provenance}
    tenant = current.tenant
    if not cas_update(s, job_id, Job.status == RUNNING, Job.lease_owner == owner, **values):
        s.rollback()
        return None
    s.execute(delete(Artifact).where(Artifact.job_id == job_id))  # a re-run replaces them
    for name, media_type, sha256, size in artifacts:
        s.add(Artifact(job_id=job_id, tenant=tenant, name=name, media_type=media_type,
                       sha256=sha256, size=size, created_at=now))
    s.commit()
    return reload_job(s, job_id)


