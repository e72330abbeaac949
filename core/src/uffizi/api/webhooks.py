"""Webhooks: when a job that named a `webhook_url` ends, its final state is POSTed there.

Delivery: a dispatcher thread watches the store for jobs that reached a final status
(succeeded, failed, canceled) since the service started, whichever process ran them, and
POSTs `{"event": "job.finished", "delivery", "sent_at", "job": <JobOut>}` through the one
fetcher (`uffizi.net.fetch.post`: the URL is checked by the same SSRF guard on every
attempt, and was already checked at submit). A 2xx answer ends it; anything else is retried
with exponential backoff (`backoff_s * 2**n`, capped at `max_backoff_s`) up to `attempts`
times, then dropped and counted. A retried job that ends again is delivered again.

Signature: `X-Uffizi-Signature: sha256=<hex>`, the HMAC-SHA256 of the exact body bytes with
the tenant's webhook secret; `X-Uffizi-Delivery` (unique per delivery, for de-duplication)
and `X-Uffizi-Event` come with it. The tenant's secret is derived from the service secret
(`UFFIZI_WEBHOOK_SECRET` when the settings have it, else a random key kept in
`<data dir>/webhook.key`) and the tenant name; `GET /v1/webhooks/secret` gives a tenant its
own, and `verify(secret, body, header)` checks a delivery. Delivery state is kept in memory:
a job that ends while no API process runs is not delivered.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlmodel import select

from uffizi.api.schemas import job_out
from uffizi.errors import UffiziError, WebhookRefused
from uffizi.net.fetch import post
from uffizi.store import jobs as store
from uffizi.store.models import Job, JobStatus

log = logging.getLogger("uffizi.webhooks")

SIGNATURE_HEADER = "X-Uffizi-Signature"
_FINAL = [s.value for s in JobStatus if s.final]


def service_secret(settings: Any) -> bytes:
    configured = getattr(settings, "webhook_secret", None)
    if configured:
        return str(configured).encode()
    path = Path(settings.resolved_data_dir) / "webhook.key"
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process wrote it first
            return path.read_bytes().strip()
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
        return path.read_bytes().strip()


def tenant_secret(settings: Any, tenant: str) -> str:
    return hmac.new(service_secret(settings), f"webhook:{tenant}".encode(), hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    return bool(header) and hmac.compare_digest(sign(secret, body), str(header).strip())


class WebhookDispatcher:
    def __init__(self, *, settings: Any, db: Any, metrics: Any = None, poll_s: float = 0.5,
                 attempts: int = 6, backoff_s: float = 0.5, max_backoff_s: float = 30.0,
                 timeout_s: float = 10.0, workers: int = 4) -> None:
        self.settings, self.db, self.metrics = settings, db, metrics
        self.poll_s, self.attempts = poll_s, attempts
        self.backoff_s, self.max_backoff_s, self.timeout_s = backoff_s, max_backoff_s, timeout_s
        self._since = datetime.now(timezone.utc) - timedelta(seconds=1)
        self._seen: dict[tuple[str, datetime], None] = {}
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="uffizi-webhook")
        self._thread = threading.Thread(target=self._loop, name="uffizi-webhooks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _finished(self) -> list[tuple[str, datetime]]:
        query = (select(Job.id, Job.finished_at)
                 .where(Job.webhook_url.is_not(None), Job.status.in_(_FINAL), Job.finished_at >= self._since)
                 .order_by(Job.finished_at).limit(500))
        with self.db.session() as s:
            return [(job_id, at) for job_id, at in s.exec(query).all() if at is not None]

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                for key in self._finished():
                    if key not in self._seen:
                        self._seen[key] = None
                        self._pool.submit(self.deliver, key[0])
            except Exception as exc:  # the store is down: try again next time
                log.warning("webhooks: cannot read the job store: %s", exc)
                continue
            horizon = datetime.now(timezone.utc) - timedelta(minutes=10)
            if self._seen and min(at for _, at in self._seen) < horizon:
                self._since = max(self._since, horizon)
                self._seen = {k: None for k in self._seen if k[1] >= horizon}

    def payload(self, job_id: str) -> tuple[Job, bytes]:
        with self.db.session() as s:
            job = store.get_job(s, job_id)
            artifacts = store.list_artifacts(s, job_id)
        document = {"event": "job.finished", "delivery": uuid.uuid4().hex,
                    "sent_at": datetime.now(timezone.utc).isoformat(),
                    "job": job_out(job, artifacts).model_dump(mode="json")}
        return job, json.dumps(document, sort_keys=True, separators=(",", ":")).encode()

    def deliver(self, job_id: str) -> bool:
        """POST the job's final state to its webhook, retrying with backoff; True when delivered."""
        try:
            job, body = self.payload(job_id)
        except UffiziError:  # deleted meanwhile
            return False
        delivery = json.loads(body)["delivery"]
        headers = {"Content-Type": "application/json", "X-Uffizi-Event": "job.finished",
                   "X-Uffizi-Delivery": delivery,
                   SIGNATURE_HEADER: sign(tenant_secret(self.settings, job.tenant), body)}
        for attempt in range(self.attempts):
            if self._stop.is_set():
                return False
            try:
                status = post(job.webhook_url or "", content=body, headers=headers, settings=self.settings,
                              timeout_s=self.timeout_s, refused=WebhookRefused)
                if 200 <= status < 300:
                    self._count("delivered")
                    return True
                why = f"HTTP {status}"
            except WebhookRefused as exc:
                log.warning("webhook of job %s refused: %s", job_id, exc.message)
                self._count("refused")
                return False
            except UffiziError as exc:
                why = exc.message
            delay = min(self.max_backoff_s, self.backoff_s * 2 ** attempt)
            log.info("webhook of job %s: attempt %d failed (%s); next in %.1f s", job_id, attempt + 1, why, delay)
            if attempt + 1 < self.attempts:
                self._stop.wait(delay)
        self._count("failed")
        log.warning("webhook of job %s not delivered after %d attempts", job_id, self.attempts)
        return False

    def _count(self, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.webhooks.labels(outcome).inc()
