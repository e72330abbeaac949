"""The job data functions: every read and write of a job row goes through here.

Each function takes a `Session` first, its other arguments keyword-only, and commits before
returning; callers pass job ids between threads and processes, never ORM objects. Times are
UTC. State changes are conditional UPDATEs (`WHERE status = ... AND ...`) whose row count
decides, so two runners, two API processes or a runner and the API never both win.

This module owns submitting, reading, canceling, retrying and deleting; the runner's side
(`claim_job`, `renew_lease`, `cancel_requested`, `set_progress`, `finish_job`) lives in
`uffizi.store.leases` and is re-exported here, so `uffizi.store.jobs` is the one import.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Text, and_, cast, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from uffizi.errors import ArtifactNotFound, IdempotencyConflict, InvalidInput, JobConflict, JobNotFound
from uffizi.store.blobs import BlobStore
from uffizi.store.leases import (  # noqa: F401  (re-exported: the runner's side)
    CANCELED,
    FAILED,
    FINAL,
    PENDING,
    RUNNING,
    SUCCEEDED,
    cancel_requested,
    cas_update,
    claim_job,
    finish_job,
    reload_job,
    renew_lease,
    set_progress,
)
from uffizi.store.models import Artifact, IdempotencyKey, Job, JobStatus, utcnow

IDEMPOTENCY_TTL_S = 24 * 3600.0
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lowercase: sorts like the time


def new_job_id() -> str:
    """"job_" + 26 chars: 48 bits of milliseconds then 80 random bits (a lowercase ULID)."""
    n = ((time.time_ns() // 1_000_000) << 80) | secrets.randbits(80)
    return "job_" + "".join(_ALPHABET[(n >> (5 * i)) & 31] for i in reversed(range(26)))


# --- submit and read ----------------------------------------------------------------------------
def _idempotent_job(s: Session, tenant: str, key: str, request_hash: str,
                    cutoff: datetime) -> tuple[Job | None, Any]:
    """(the job this key made, None), or (None, a condition matching the key's row when it is
    stale: expired, or its job deleted); (None, None) when the key is unknown."""
    row = s.get(IdempotencyKey, (tenant, key), populate_existing=True)
    if row is None:
        return None, None
    same_row = and_(IdempotencyKey.tenant == tenant, IdempotencyKey.key == key,
                    IdempotencyKey.job_id == row.job_id, IdempotencyKey.created_at == row.created_at)
    if row.created_at < cutoff:
        return None, same_row
    if row.request_hash != request_hash:
        raise IdempotencyConflict(
            f"Idempotency-Key {key!r} was used with a different request; use a new key for a new job",
            details={"job_id": row.job_id},
        )
    job = s.get(Job, row.job_id, populate_existing=True)
    return job, (same_row if job is None else None)


def create_job(
    s: Session, *, tenant: str, pipeline: str, options: dict[str, Any], inputs: Sequence[dict[str, Any]],
    provenance: dict[str, Any], webhook_url: str | None = None, idempotency_key: str | None = None,
    request_hash: str | None = None, timeout_s: float | None = None, max_attempts: int = 3,
    idempotency_ttl_s: float = IDEMPOTENCY_TTL_S,
) -> tuple[Job, bool]:
    """Insert a pending job -> (job, True); or, for a known Idempotency-Key with the same request
    hash, the job it made -> (job, False). The same key with another hash: `IdempotencyConflict`."""
    cutoff = utcnow() - timedelta(seconds=idempotency_ttl_s)
    rhash = request_hash or ""
    for _ in range(5):
        stale = None
        if idempotency_key is not None:
            existing, stale = _idempotent_job(s, tenant, idempotency_key, rhash, cutoff)
            if existing is not None:
                s.commit()
                return existing, False
        now = utcnow()
        job = Job(id=new_job_id(), tenant=tenant, pipeline=pipeline, status=PENDING,
                  options=dict(options), inputs=[dict(i) for i in inputs], provenance=dict(provenance),
                  webhook_url=webhook_url, idempotency_key=idempotency_key, timeout_s=timeout_s,
                  max_attempts=max_attempts, created_at=now, updated_at=now)
        s.add(job)
        if idempotency_key is not None:
            if stale is not None:  # an expired key, or one whose job is gone, is replaced
                s.execute(delete(IdempotencyKey).where(stale))
            s.add(IdempotencyKey(tenant=tenant, key=idempotency_key, request_hash=rhash,
                                 job_id=job.id, created_at=now))
        try:
            s.commit()
        except IntegrityError:  # the same key, submitted at the same moment: the other one won
            s.rollback()
            if idempotency_key is None:
                raise
            continue
        return job, True
    raise IdempotencyConflict(f"Idempotency-Key {idempotency_key!r} is being used concurrently; retry")


def get_job(s: Session, job_id: str, *, tenant: str | None = None) -> Job:
    """The job; `JobNotFound` when there is none or it belongs to another tenant."""
    job = s.get(Job, job_id, populate_existing=True)
    s.commit()
    if job is None or (tenant is not None and job.tenant != tenant):
        raise JobNotFound(f"no job {job_id!r}")
    return job


def _encode_cursor(job: Job) -> str:
    raw = json.dumps([job.created_at.isoformat(), job.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created, job_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(created), str(job_id)
    except Exception:
        raise InvalidInput("invalid cursor; pass the next_cursor of the previous page") from None


def list_jobs(
    s: Session, *, tenant: str | None, status: str | None = None, pipeline: str | None = None,
    created_after: datetime | None = None, created_before: datetime | None = None,
    limit: int = 50, cursor: str | None = None,
) -> tuple[list[Job], str | None]:
    """A page of jobs, newest first, and the cursor of the next page (None on the last)."""
    q = select(Job)
    if tenant is not None:
        q = q.where(Job.tenant == tenant)
    if status is not None:
        q = q.where(Job.status == str(getattr(status, "value", status)))
    if pipeline is not None:
        q = q.where(Job.pipeline == pipeline if "@" in pipeline else Job.pipeline.startswith(f"{pipeline}@", autoescape=True))
    if created_after is not None:
        q = q.where(Job.created_at >= created_after)
    if created_before is not None:
        q = q.where(Job.created_at < created_before)
    if cursor:
        at, last_id = _decode_cursor(cursor)
        q = q.where(or_(Job.created_at < at, and_(Job.created_at == at, Job.id < last_id)))
    limit = max(1, min(int(limit), 1000))
    rows = list(s.scalars(q.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit + 1)))
    s.commit()
    page = rows[:limit]
    return page, (_encode_cursor(page[-1]) if len(rows) > limit else None)


def list_artifacts(s: Session, job_id: str, *, tenant: str | None = None) -> list[Artifact]:
    get_job(s, job_id, tenant=tenant)
    rows = list(s.scalars(select(Artifact).where(Artifact.job_id == job_id).order_by(Artifact.id)))
    s.commit()
    return rows


def get_artifact(s: Session, job_id: str, name: str, *, tenant: str | None = None) -> Artifact:
    """One artifact of a job by name; `JobNotFound` for the job, `ArtifactNotFound` (details
    name the artifact) when the job has none by that name."""
    for artifact in list_artifacts(s, job_id, tenant=tenant):
        if artifact.name == name:
            return artifact
    raise ArtifactNotFound(f"job {job_id!r} has no artifact {name!r}", details={"artifact": name})


# --- the user's side --------------------------------------------------------------------------
def request_cancel(s: Session, job_id: str, *, tenant: str | None) -> Job:
    """Pending -> canceled now; running -> `cancel_requested` (the runner stops between
    frames); a final job is returned unchanged."""
    for _ in range(3):
        job = get_job(s, job_id, tenant=tenant)
        now = utcnow()
        if job.status == PENDING:
            done = cas_update(s, job_id, Job.status == PENDING, status=CANCELED, cancel_requested=True,
                        error_code="canceled", error_message="the job was canceled before it started",
                        finished_at=now, updated_at=now)
        elif job.status == RUNNING:
            done = cas_update(s, job_id, Job.status == RUNNING, cancel_requested=True, updated_at=now)
        else:
            return job
        s.commit()
        if done:
            return reload_job(s, job_id)
    return get_job(s, job_id, tenant=tenant)


def retry_job(s: Session, job_id: str, *, tenant: str | None) -> Job:
    """Failed / canceled -> pending again, attempts reset to 0 (a fresh `max_attempts` budget);
    any other status: `JobConflict`."""
    job = get_job(s, job_id, tenant=tenant)
    if job.status in (FAILED, CANCELED) and cas_update(
        s, job_id, Job.status.in_((FAILED, CANCELED)), status=PENDING, attempts=0,
        cancel_requested=False, lease_owner=None, lease_expires_at=None, error_code=None,
        error_message=None, progress=0.0, progress_detail=None, warnings=[], records_sha256=None,
        started_at=None, finished_at=None, updated_at=utcnow(),
    ):
        s.commit()
        return reload_job(s, job_id)
    s.rollback()
    status = get_job(s, job_id).status
    raise JobConflict(f"job {job_id!r} is {status}; only failed or canceled jobs can be retried",
                      details={"status": status})


def blob_referenced(s: Session, sha256: str) -> bool:
    """Whether any job (input or result records) or artifact still uses this blob."""
    found = (
        s.execute(select(Artifact.id).where(Artifact.sha256 == sha256).limit(1)).first()
        or s.execute(select(Job.id).where(Job.records_sha256 == sha256).limit(1)).first()
        or s.execute(select(Job.id).where(cast(Job.inputs, Text).contains(sha256)).limit(1)).first()
    )
    s.commit()
    return found is not None


def delete_blobs_unreferenced(s: Session, blobs: BlobStore, digests: Iterable[str | None]) -> None:
    for sha256 in {d for d in digests if d}:
        if not blob_referenced(s, sha256):
            blobs.delete(sha256)


def delete_job(s: Session, job_id: str, *, tenant: str | None, blobs: BlobStore) -> None:
    """Remove the job, its artifacts and every blob nothing else references. A running job
    loses its row at once: its runner sees that as a cancel and stores nothing."""
    job = get_job(s, job_id, tenant=tenant)
    artifacts = list(s.scalars(select(Artifact.sha256).where(Artifact.job_id == job_id)))
    digests = [i.get("sha256") for i in job.inputs] + [job.records_sha256, *artifacts]
    s.execute(delete(Artifact).where(Artifact.job_id == job_id))
    s.execute(delete(IdempotencyKey).where(IdempotencyKey.job_id == job_id))
    s.execute(delete(Job).where(Job.id == job_id))
    s.commit()
    delete_blobs_unreferenced(s, blobs, digests)


def count_by_status(s: Session, *, tenant: str | None = None) -> dict[str, int]:
    """{status: count} for every status (zeros included)."""
    q = select(Job.status, func.count()).group_by(Job.status)
    if tenant is not None:
        q = q.where(Job.tenant == tenant)
    counts = {st.value: 0 for st in JobStatus} | {st: n for st, n in s.execute(q).all()}
    s.commit()
    return counts


def queue_depth(s: Session) -> int:
    """How many jobs wait for a runner."""
    n = s.execute(select(func.count()).select_from(Job).where(Job.status == PENDING)).scalar_one()
    s.commit()
    return int(n)
