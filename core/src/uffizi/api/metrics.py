"""Prometheus metrics of one service process (`GET /metrics`).

One `Metrics` per app, with its own registry (several apps can live in one test process):

- `uffizi_http_requests_total{method,route,status}` and
  `uffizi_http_request_duration_seconds{method,route}`: every request, by route template
  (`/v1/jobs/{job_id}`, never the raw path, so ids do not explode the label set);
- `uffizi_jobs{status}` and `uffizi_queue_depth`: read from the job store at scrape time
  (the store is the truth, whichever process runs the jobs);
- `uffizi_jobs_submitted_total{pipeline}`, `uffizi_webhook_deliveries_total{outcome}`;
- `uffizi_inference_latency_seconds` (submit to answer, queueing included),
  `uffizi_inference_batch_size` (the batch each answer was computed in),
  `uffizi_images_total` and `uffizi_images_per_second` (last 60 s): observed on the engine
  of this process, for `/v1/infer` and for jobs run by the in-process runner alike.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class _StoreCollector:
    """Jobs by status and the queue depth, counted in the store when scraped."""

    def __init__(self, db: Any) -> None:
        self.db = db

    def collect(self):
        from uffizi.store.jobs import count_by_status, queue_depth
        from uffizi.store.models import JobStatus

        jobs = GaugeMetricFamily("uffizi_jobs", "Jobs in the store by status", labels=["status"])
        depth = GaugeMetricFamily("uffizi_queue_depth", "Jobs waiting to run (pending)")
        try:
            with self.db.session() as s:
                counts = count_by_status(s)
                waiting = queue_depth(s)
        except Exception as exc:  # a scrape never fails because the store is down
            log.warning("metrics: cannot read the job store: %s", exc)
            return
        for status in JobStatus:
            jobs.add_metric([status.value], counts.get(status.value, 0))
        depth.add_metric([], waiting)
        yield jobs
        yield depth


class Metrics:
    def __init__(self, db: Any = None) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("uffizi_http_requests", "HTTP requests",
                                ["method", "route", "status"], registry=r)
        self.request_seconds = Histogram("uffizi_http_request_duration_seconds",
                                         "HTTP request duration", ["method", "route"],
                                         buckets=_LATENCY_BUCKETS, registry=r)
        self.submitted = Counter("uffizi_jobs_submitted", "Jobs submitted", ["pipeline"], registry=r)
        self.webhooks = Counter("uffizi_webhook_deliveries", "Webhook deliveries", ["outcome"],
                                registry=r)
        self.latency = Histogram("uffizi_inference_latency_seconds",
                                 "Engine latency per image, queueing included",
                                 buckets=_LATENCY_BUCKETS, registry=r)
        self.batch_size = Histogram("uffizi_inference_batch_size",
                                    "Batch size each answer was computed in",
                                    buckets=_BATCH_BUCKETS, registry=r)
        self.images = Counter("uffizi_images", "Images through the engine", registry=r)
        rate = Gauge("uffizi_images_per_second", "Images through the engine per second, last 60 s",
                     registry=r)
        rate.set_function(self.images_per_second)
        self._recent: collections.deque[float] = collections.deque(maxlen=100_000)
        self._lock = threading.Lock()
        if db is not None:
            r.register(_StoreCollector(db))

    def render(self) -> bytes:
        return generate_latest(self.registry)

    # --- the engine ------------------------------------------------------------------------
    def images_per_second(self, window_s: float = 60.0) -> float:
        now = time.monotonic()
        with self._lock:
            while self._recent and self._recent[0] < now - window_s:
                self._recent.popleft()
            return len(self._recent) / window_s

    def _observe(self, started: float, future: Any) -> None:
        if future.cancelled() or future.exception() is not None:
            return
        done = time.monotonic()
        self.latency.observe(done - started)
        self.images.inc()
        results = future.result() or []
        if results:
            self.batch_size.observe(getattr(results[0].timings, "batch_size", 1))
        with self._lock:
            self._recent.append(done)

    def instrument_engine(self, engine: Any) -> None:
        """Observe every image the engine answers: wraps its `submit` (what `run_many` and
        every typed method go through) on this instance. Engines without one are skipped."""
        submit = getattr(engine, "submit", None)
        if not callable(submit) or getattr(submit, "_uffizi_metered", False):
            return

        def metered(image: Any, requests: list) -> Any:
            started = time.monotonic()
            future = submit(image, requests)
            future.add_done_callback(lambda f: self._observe(started, f))
            return future

        metered._uffizi_metered = True  # type: ignore[attr-defined]
        engine.submit = metered


class RequestMetrics:
    """ASGI middleware: count and time every HTTP request by its route template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "(unmatched)"
            method = scope.get("method", "")
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.request_seconds.labels(method, route).observe(time.perf_counter() - started)
