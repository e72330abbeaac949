"""`InProcessRunner`: the default runner, N threads in this process that run stored jobs.

Each thread loops: `claim_job` (a pending job, oldest first, or a running one whose lease
expired because its process died), then `run_claimed` to a final state. An idle thread sleeps
up to `poll_s` or until `notify()` wakes it (the API calls it after each submit), so a job left
running by a dead process is picked up once its lease expires. `stop(timeout)` lets the threads
finish the job in hand; a job still running when the process exits is claimed again (attempts
+ 1) after its lease expires.

`InProcessRunnerFactory` is what the built-in `make_runner(settings)` hook returns: the hook
gets only settings, so the runner is made later by `factory.bind(platform, db, blobs)`.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from typing import Any

from uffizi.jobs.execute import run_claimed
from uffizi.store import jobs as store
from uffizi.store.blobs import BlobStore
from uffizi.store.db import Database

log = logging.getLogger(__name__)


def default_owner() -> str:
    """A lease owner name unique to this process: host, pid and a random tag."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{secrets.token_hex(3)}"


class InProcessRunner:
    """Runs jobs on `threads` threads of this process. `.start()`, `.notify()`, `.stop()`."""

    def __init__(self, platform: Any, db: Database, blobs: BlobStore, *, threads: int,
                 lease_s: float, owner: str | None = None, poll_s: float = 1.0) -> None:
        self.platform, self.db, self.blobs = platform, db, blobs
        self.threads, self.lease_s, self.poll_s = int(threads), float(lease_s), float(poll_s)
        self.owner = owner or default_owner()
        self._cond = threading.Condition()
        self._wakeups = 0
        self._stopping = threading.Event()
        self._workers: list[threading.Thread] = []
        self._active: dict[str, str] = {}  # thread owner -> job id

    def __repr__(self) -> str:
        return f"InProcessRunner(owner={self.owner!r}, threads={self.threads})"

    @property
    def active_jobs(self) -> list[str]:
        """Ids of the jobs this runner is running now."""
        return list(self._active.values())

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._workers)

    def start(self) -> InProcessRunner:
        if self._workers:
            return self
        self._stopping.clear()
        for i in range(self.threads):
            thread = threading.Thread(target=self._loop, args=(f"{self.owner}/{i}",),
                                      name=f"uffizi-runner-{i}", daemon=True)
            self._workers.append(thread)
            thread.start()
        log.info("runner %s started with %d thread(s)", self.owner, self.threads)
        return self

    def notify(self, job_id: str | None = None) -> None:
        """Wake one idle thread (a job was submitted); any thread may take any pending job."""
        with self._cond:
            self._wakeups += 1
            self._cond.notify()

    def stop(self, timeout: float | None = None) -> bool:
        """Stop taking jobs and wait up to `timeout` for the jobs in hand; True when all
        threads ended."""
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._workers:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        alive = [t for t in self._workers if t.is_alive()]
        if alive:
            log.warning("runner %s: %d job(s) still running at stop: %s", self.owner, len(alive),
                        ", ".join(self.active_jobs))
        self._workers = alive
        return not alive

    def _idle(self, wait_s: float) -> None:
        with self._cond:
            if self._wakeups == 0 and not self._stopping.is_set():
                self._cond.wait(wait_s)
            if self._wakeups:
                self._wakeups -= 1

    def _loop(self, owner: str) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                with self.db.session() as s:
                    job = store.claim_job(s, owner=owner, lease_s=self.lease_s)
                failures = 0
            except Exception as exc:  # the store is down: back off, keep the thread alive
                failures += 1
                log.warning("runner %s: cannot claim jobs: %s", owner, exc)
                self._idle(min(30.0, self.poll_s * 2 ** min(failures, 5)))
                continue
            if job is None:
                self._idle(self.poll_s)
                continue
            self._active[owner] = job.id
            try:
                run_claimed(job.id, platform=self.platform, db=self.db, blobs=self.blobs,
                            owner=owner, lease_s=self.lease_s)
            except Exception:
                log.exception("runner %s: job %s could not be finished", owner, job.id)
            finally:
                self._active.pop(owner, None)


class InProcessRunnerFactory:
    """What the built-in `make_runner(settings)` returns: `.bind(platform, db, blobs)` makes
    the runner with `settings.runners` threads and `settings.lease_s`."""

    kind = "in-process"

    def __init__(self, settings: Any) -> None:
        self.settings = settings

    def bind(self, platform: Any, db: Database, blobs: BlobStore) -> InProcessRunner:
        return InProcessRunner(platform, db, blobs, threads=self.settings.runners,
                               lease_s=self.settings.lease_s)
