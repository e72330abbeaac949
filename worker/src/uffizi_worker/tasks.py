"""The one Celery task: `run_job(job_id)` runs the stored job whose id it carries.

It calls `uffizi.jobs.execute.execute_job`, the same function the in-process runner uses, with
a platform, database and blob store made lazily, once per worker process, on the first job
(never at import nor in `worker_process_init`: the engine loads on the first job, in the
process that runs it, after any fork).

- A redelivered message (a worker died, the visibility timeout passed) for a job another
  runner holds, or that is final, is a no-op: the store's claim decides.
- Retries, with exponential backoff, only for transient errors: the database or the broker
  unreachable (the claim or the finish failed), and CUDA out of memory (the job is put back
  to pending and tried again later). Bad input (`UffiziError`) is never retried: the job row
  is failed with its code, once, and the message is acknowledged.
- A job that keeps killing its worker is capped by the store: `claim_job` fails it with
  `max_attempts_exceeded` once its attempts are spent.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from uffizi_worker.celery_app import TASK_NAME, app

log = logging.getLogger(__name__)

MAX_RETRIES = 8
_lock = threading.Lock()
_resources: dict[str, Any] = {}


def resources() -> dict[str, Any]:
    """This process's settings, platform, database, blob store and owner name (made once)."""
    with _lock:
        if not _resources:
            from uffizi.jobs.runner import default_owner
            from uffizi.platform import get_platform
            from uffizi.settings import get_settings
            from uffizi.store.blobs import BlobStore
            from uffizi.store.db import Database

            settings = get_settings()
            _resources.update(
                settings=settings, platform=get_platform(settings),
                db=Database.from_settings(settings),
                blobs=BlobStore(settings.resolved_data_dir / "blobs"),
                owner=default_owner(),
            )
        return _resources


def transient_errors() -> tuple[type[BaseException], ...]:
    """Exceptions worth another try: the store or the broker was unreachable."""
    from kombu.exceptions import OperationalError as KombuOperationalError
    from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError

    return (OperationalError, InterfaceError, DisconnectionError, KombuOperationalError,
            ConnectionError, TimeoutError)


def _out_of_memory(job: Any) -> bool:
    return (getattr(job, "status", None) == "failed" and job.error_code == "internal_error"
            and "OutOfMemoryError" in (job.error_message or ""))


def _backoff(retries: int) -> float:
    return float(min(60, 2 ** retries))


@app.task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True,
          max_retries=MAX_RETRIES, ignore_result=True)
def run_job(self: Any, job_id: str) -> str | None:
    """Run job `job_id` (claim, run, finish its row); returns its final status."""
    from uffizi.errors import UffiziError
    from uffizi.jobs.execute import execute_job
    from uffizi.store import jobs as store

    try:
        r = resources()
        owner = f"{r['owner']}/{threading.current_thread().name}"
        job = execute_job(job_id, platform=r["platform"], db=r["db"], blobs=r["blobs"],
                          owner=owner, lease_s=r["settings"].lease_s)
    except UffiziError as exc:  # bad input or an unknown job: final, never retried
        log.warning("job %s: %s: %s", job_id, exc.code, exc.message)
        return None
    except transient_errors() as exc:
        log.warning("job %s: transient error, retry %d: %s", job_id, self.request.retries + 1, exc)
        raise self.retry(exc=exc, countdown=_backoff(self.request.retries)) from None
    if _out_of_memory(job) and self.request.retries < MAX_RETRIES:
        with r["db"].session() as s:
            store.retry_job(s, job_id, tenant=job.tenant)  # back to pending, tried again later
        log.warning("job %s: out of memory; tried again in %.0f s", job_id, _backoff(self.request.retries))
        raise self.retry(countdown=_backoff(self.request.retries))
    return job.status
