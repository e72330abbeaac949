"""A job's server-sent events (`GET /v1/jobs/{id}/events`): status and progress as they change.

The stream reads the job's row (the truth, whichever process runs the job) every
`POLL_S` and sends an event when something changed: `status` (the whole job, on every
status change, cancel request or error), `progress` (`{"progress", "detail"}`). It starts
with the job as it is and ends after the event of a final status (succeeded, failed,
canceled) with an `end` event, so a client that reads to the end has seen the outcome.
A deleted job ends the stream with an `error` event. Idle streams get keep-alive comments.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi.concurrency import run_in_threadpool
from fastapi.sse import ServerSentEvent

from uffizi.api.schemas import job_out
from uffizi.errors import UffiziError
from uffizi.store import jobs as store
from uffizi.store.models import JobStatus

POLL_S = 0.25


def _read(db: Any, job_id: str, tenant: str) -> tuple[Any, list[Any]]:
    """The job, and its artifacts once it is final."""
    with db.session() as s:
        job = store.get_job(s, job_id, tenant=tenant)
        final = JobStatus(job.status).final
        return job, store.list_artifacts(s, job_id, tenant=tenant) if final else []


async def job_events(db: Any, job_id: str, tenant: str, *, poll_s: float = POLL_S) -> AsyncIterator[ServerSentEvent]:
    seq = 0
    last_state: tuple[Any, ...] | None = None
    last_progress: float | None = None
    while True:
        try:
            job, artifacts = await run_in_threadpool(_read, db, job_id, tenant)
        except UffiziError as exc:
            seq += 1
            yield ServerSentEvent(event="error", id=str(seq), data=exc.to_dict())
            return
        state = (job.status, job.cancel_requested, job.error_code, job.attempts)
        if state != last_state:
            last_state = state
            seq += 1
            yield ServerSentEvent(event="status", id=str(seq),
                                  data=job_out(job, artifacts).model_dump(mode="json"))
        if job.progress != last_progress:
            last_progress = job.progress
            seq += 1
            yield ServerSentEvent(event="progress", id=str(seq),
                                  data={"progress": job.progress, "detail": job.progress_detail})
        if JobStatus(job.status).final:
            seq += 1
            yield ServerSentEvent(event="end", id=str(seq), data={"status": job.status})
            return
        await anyio.sleep(poll_s)
