"""Submitting a job, from parsed request to committed row: the one function behind
`POST /v1/jobs` (multipart and JSON alike).

Order matters, so that a bad request stores nothing and a good one loses nothing: the
pipeline is resolved (404 `unknown_pipeline`), the options validated against its model (422
`invalid_options`, each error with its field path under `options.`), the webhook URL checked
by the fetcher's guard (422 `webhook_refused`); then the inputs are staged, sniffed (415) and
stored (`uffizi.api.intake`); then the row is written and committed (`create_job`, which also
settles the Idempotency-Key), and only then is the runner told.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from uffizi.api import idempotency, provenance
from uffizi.api.auth import Principal
from uffizi.api.intake import Intake
from uffizi.api.state import ServiceState
from uffizi.errors import InvalidOptions, WebhookRefused
from uffizi.net.fetch import UrlGuard
from uffizi.store.jobs import create_job
from uffizi.store.models import Job

log = logging.getLogger("uffizi.api")


@dataclass
class Submission:
    pipeline: str
    options: dict[str, Any] = field(default_factory=dict)
    uploads: list[tuple[str | None, BinaryIO]] = field(default_factory=list)
    base64: list[tuple[str | None, str]] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    webhook_url: str | None = None


def check_options(pipeline: Any, options: dict[str, Any]) -> Any:
    """The validated options; errors name their path from the request body (`options.x.y`)."""
    try:
        return pipeline.parse_options(options)
    except InvalidOptions as exc:
        errors = [{**e, "field": f"options.{e['field']}" if e.get("field") != "(options)" else "options"}
                  for e in exc.details.get("errors", [])]
        raise InvalidOptions(exc.message, details={"errors": errors}) from None


def submit_job(state: ServiceState, principal: Principal, sub: Submission, *,
               idempotency_key: str | None = None) -> tuple[Job, bool]:
    """(the job, True) when it was created; (the job, False) when the Idempotency-Key had
    already made it."""
    key = idempotency.check_key(idempotency_key)
    platform, settings = state.platform, state.settings
    pipeline = platform.get_pipeline(sub.pipeline)
    parsed = check_options(pipeline, sub.options)
    if sub.webhook_url:
        UrlGuard(settings, refused=WebhookRefused).check(sub.webhook_url)
    with Intake(platform=platform, blobs=state.blobs, tmp_dir=state.tmp_dir) as intake:
        for name, stream in sub.uploads:
            intake.add_stream(name, stream)
        for i, (name, data) in enumerate(sub.base64):
            intake.add_base64(name, data, field=f"inputs.{i}.data")
        for url in sub.urls:
            intake.add_url(url, settings=settings)
        rhash = idempotency.request_hash(pipeline=pipeline.id, options=sub.options,
                                         inputs=intake.fingerprint(), webhook_url=sub.webhook_url)
        inputs = intake.store(pipeline, parsed)
    record = provenance.build(platform, pipeline, sub.options, inputs)
    with state.db.session() as s:
        job, created = create_job(
            s, tenant=principal.tenant, pipeline=pipeline.id, options=sub.options, inputs=inputs,
            provenance=record, webhook_url=sub.webhook_url, idempotency_key=key, request_hash=rhash,
            timeout_s=None if pipeline.streaming else settings.job_timeout_s,
            max_attempts=settings.max_attempts, idempotency_ttl_s=settings.idempotency_ttl_s,
        )
    if created:
        state.metrics.submitted.labels(pipeline.id).inc()
        if state.runner is not None:
            try:
                state.runner.notify(job.id)
            except Exception as exc:  # the row is committed: a runner polling will find it
                log.warning("runner notify failed for %s: %s", job.id, exc)
    return job, created
