"""The API side of the Celery runner: enqueue a job after its row is committed, and a sweeper.

`CeleryRunnerFactory(settings)` is what the worker plugin's `make_runner` returns when a broker
is set; `.bind(platform, db, blobs)` makes a `CeleryRunner`:

- `notify(job_id)`: called by the API after `create_job` committed the row; reads the job's
  pipeline and sends the one task (`uffizi.run_job`, the job id only) to the pipeline's queue
  (`celery_app.queue_for`). Publishing fails fast when the broker is down; the error is
  logged, never raised into the request: the row is stored and the sweeper enqueues it.
- The sweeper (choice: re-enqueue, not 503): a thread that every `sweep_interval_s` re-sends
  the task for jobs that nothing may be running, namely pending jobs whose last update is
  older than `sweep_after_s` (the submit happened while the broker was down, or the message
  was lost with a Redis that had no persistence) and running jobs whose lease has expired
  (their worker died and its message was acknowledged or not yet redelivered). A job is
  re-sent at most once per `sweep_after_s` by one API node; a duplicate message is harmless,
  the store's claim makes a second delivery a no-op. With several API nodes each sweeps; the
  duplicates are no-ops too.
- `start()` starts the sweeper; `stop(timeout)` stops it.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import Any

from uffizi_worker.celery_app import TASK_NAME, make_celery, queue_for

log = logging.getLogger(__name__)

SWEEP_AFTER_S = 60.0
SWEEP_INTERVAL_S = 15.0
SWEEP_BATCH = 500


class CeleryRunner:
    """Sends jobs to the workers. `.start()`, `.notify(job_id)`, `.stop()`."""

    kind = "celery"

    def __init__(self, settings: Any, platform: Any, db: Any, blobs: Any, *,
                 sweep_after_s: float = SWEEP_AFTER_S,
                 sweep_interval_s: float = SWEEP_INTERVAL_S) -> None:
        self.settings, self.platform, self.db, self.blobs = settings, platform, db, blobs
        self.sweep_after_s, self.sweep_interval_s = float(sweep_after_s), float(sweep_interval_s)
        self.app = make_celery(settings, main="uffizi-api")
        self._sent: dict[str, float] = {}  # job id -> monotonic time this node last sent it
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"CeleryRunner(broker={self.settings.broker_url!r})"

    def send(self, job_id: str, pipeline: str) -> bool:
        """Publish the task for one job; False (logged) when the broker cannot take it."""
        try:
            self.app.send_task(TASK_NAME, args=[job_id], queue=queue_for(pipeline),
                               retry=True, ignore_result=True)
        except Exception as exc:  # broker down: the sweeper sends it later
            log.warning("job %s not enqueued (the sweeper will retry): %s", job_id, exc)
            return False
        self._sent[job_id] = time.monotonic()
        return True

    def notify(self, job_id: str | None = None) -> None:
        """Enqueue `job_id` (its row is committed); without an id, sweep now."""
        if job_id is None:
            self.sweep(force=True)
            return
        from uffizi.store import jobs as store

        with self.db.session() as s:
            job = store.get_job(s, job_id)
            pipeline = job.pipeline
        self.send(job_id, pipeline)

    def sweep(self, *, force: bool = False) -> int:
        """Re-send pending jobs not updated for `sweep_after_s` and running jobs whose lease
        expired; returns how many were sent."""
        from sqlalchemy import and_, or_, select

        from uffizi.store.models import Job, utcnow

        now = utcnow()
        stale = now - timedelta(seconds=self.sweep_after_s)
        with self.db.session() as s:
            rows = s.execute(
                select(Job.id, Job.pipeline)
                .where(or_(and_(Job.status == "pending", Job.updated_at < stale),
                           and_(Job.status == "running", Job.lease_expires_at < now)))
                .order_by(Job.created_at).limit(SWEEP_BATCH)
            ).all()
        sent = 0
        mono = time.monotonic()
        for job_id, pipeline in rows:
            last = self._sent.get(job_id)
            if not force and last is not None and mono - last < self.sweep_after_s:
                continue
            if self.send(job_id, pipeline):
                sent += 1
                log.info("sweeper: job %s enqueued again", job_id)
        self._sent = {k: v for k, v in self._sent.items() if mono - v < 4 * self.sweep_after_s}
        return sent

    def _loop(self) -> None:
        while not self._stopping.wait(self.sweep_interval_s):
            try:
                self.sweep()
            except Exception as exc:  # the store is down: try again next round
                log.warning("sweeper: %s", exc)

    def start(self) -> CeleryRunner:
        if self._thread is None or not self._thread.is_alive():
            self._stopping.clear()
            self._thread = threading.Thread(target=self._loop, name="uffizi-celery-sweeper", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> bool:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return False
            self._thread = None
        return True


class CeleryRunnerFactory:
    """What the worker plugin's `make_runner(settings)` returns when a broker is set."""

    kind = "celery"

    def __init__(self, settings: Any, **options: Any) -> None:
        self.settings, self.options = settings, options

    def bind(self, platform: Any, db: Any, blobs: Any) -> CeleryRunner:
        return CeleryRunner(self.settings, platform, db, blobs, **self.options)
