"""`/v1/jobs`: submit (multipart or JSON), list, read, cancel, retry, delete.

Thin edges: each route parses, calls one function (`submit_job` or a `uffizi.store.jobs`
data function) with the caller's tenant, and returns the job as `JobOut`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from uffizi.api.deps import BlobsDep, ReadDep, RunnerDep, SessionDep, StateDep, SubmitDep
from uffizi.api.schemas import ErrorBody, JobOut, JobPage, JobSubmit, job_out
from uffizi.api.submit import Submission, submit_job
from uffizi.errors import UnsupportedMedia
from uffizi.store import jobs as store
from uffizi.store.models import JobStatus

_FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")
router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 403, 404, 409, 413, 415, 422)
}
_MULTIPART_SCHEMA = {
    "type": "object", "required": ["pipeline"],
    "properties": {
        "pipeline": {"type": "string", "example": "core/florence@v1"},
        "options": {"type": "string", "description": "The pipeline's options, a JSON object",
                    "example": '{"tasks": ["<CAPTION>", "<OD>"]}'},
        "inputs": {"type": "array", "items": {"type": "string", "format": "binary"}},
        "urls": {"type": "array", "items": {"type": "string"}, "description": "Inputs to fetch"},
        "webhook_url": {"type": "string"},
    },
}
SUBMIT_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": _MULTIPART_SCHEMA},
    "application/json": {"schema": {"$ref": "#/components/schemas/JobSubmit"}},
}}}


def _invalid(loc: tuple[Any, ...], message: str, kind: str = "value_error") -> RequestValidationError:
    return RequestValidationError([{"loc": loc, "msg": message, "type": kind}])


async def _parse_json(request: Request) -> Submission:
    try:
        data = await request.json()
    except ValueError:
        raise _invalid(("body",), "the body is not valid JSON", "json_invalid") from None
    try:
        body = JobSubmit.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None
    return Submission(pipeline=body.pipeline, options=body.options,
                      base64=[(i.name, i.data) for i in body.inputs], urls=body.urls,
                      webhook_url=body.webhook_url)


def _url_list(value: str) -> list[str]:
    """One URL per field, or a JSON array of them in one field."""
    if not value.strip().startswith("["):
        return [value.strip()] if value.strip() else []
    try:
        items = json.loads(value)
    except ValueError:
        items = None
    if not isinstance(items, list) or not all(isinstance(u, str) for u in items):
        raise _invalid(("body", "urls"), "urls must be URLs, or a JSON array of them")
    return items


def _parse_form(form: Any) -> Submission:
    pipeline = form.get("pipeline")
    if not isinstance(pipeline, str) or not pipeline.strip():
        raise _invalid(("body", "pipeline"), "Field required", "missing")
    options: Any = {}
    raw = form.get("options")
    if raw not in (None, ""):
        try:
            options = json.loads(raw) if isinstance(raw, str) else None
        except ValueError:
            options = None
        if not isinstance(options, dict):
            raise _invalid(("body", "options"), "options must be a JSON object")
    uploads = []
    for i, item in enumerate(form.getlist("inputs")):
        if not isinstance(item, UploadFile):
            raise _invalid(("body", "inputs", i), "inputs must be files")
        uploads.append((item.filename, item.file))
    urls: list[str] = []
    for value in form.getlist("urls"):
        if not isinstance(value, str):
            raise _invalid(("body", "urls"), "urls must be text")
        urls += _url_list(value)
    webhook = form.get("webhook_url")
    return Submission(pipeline=pipeline.strip(), options=options, uploads=uploads, urls=urls,
                      webhook_url=webhook.strip() if isinstance(webhook, str) and webhook.strip() else None)


@router.post(
    "", status_code=202, response_model=JobOut, responses=_ERRORS, openapi_extra=SUBMIT_BODY,
    summary="Submit a job",
    description="Multipart (`pipeline`, `options` as a JSON string, files in `inputs`, `urls`, "
    "`webhook_url`) or JSON (`JobSubmit`, files as base64). Every input is sniffed by content. "
    "With an `Idempotency-Key` header a retry returns the same job (header "
    "`Idempotent-Replayed: true`); the same key with another body is 422.",
)
async def submit(
    request: Request, response: Response, state: StateDep, principal: SubmitDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255,
                                                  description="Retry-safe key, per tenant, 24 h")] = None,
) -> JobOut:
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype in _FORMS:
        async with request.form(max_files=1000, max_fields=1000, max_part_size=1024 * 1024) as form:
            sub = _parse_form(form)
            job, created = await run_in_threadpool(submit_job, state, principal, sub,
                                                   idempotency_key=idempotency_key)
    elif ctype == "application/json" or ctype.endswith("+json"):
        sub = await _parse_json(request)
        job, created = await run_in_threadpool(submit_job, state, principal, sub,
                                               idempotency_key=idempotency_key)
    else:
        raise UnsupportedMedia(f"send the job as multipart/form-data or application/json, not "
                               f"{ctype or '(no content type)'}")
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return job_out(job)


@router.get("", response_model=JobPage, responses=_ERRORS, summary="List jobs",
            description="The caller's jobs, newest first; filters combine; follow `next_cursor`.")
def list_jobs(
    s: SessionDep, principal: ReadDep,
    status: Annotated[JobStatus | None, Query(description="Only jobs in this status")] = None,
    pipeline: Annotated[str | None, Query(description="`name@vN`, or `name` for every version")] = None,
    created_after: Annotated[datetime | None, Query(description="ISO 8601, inclusive")] = None,
    created_before: Annotated[datetime | None, Query(description="ISO 8601, exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> JobPage:
    rows, next_cursor = store.list_jobs(
        s, tenant=principal.tenant, status=status.value if status else None, pipeline=pipeline,
        created_after=created_after, created_before=created_before, limit=limit, cursor=cursor)
    return JobPage(items=[job_out(j) for j in rows], next_cursor=next_cursor)


@router.get("/{job_id}", response_model=JobOut, responses=_ERRORS, summary="Read a job",
            description="Status, progress 0..1, timings, error code and message, attempts, "
            "provenance and artifacts.")
def get_job(job_id: str, s: SessionDep, principal: ReadDep) -> JobOut:
    job = store.get_job(s, job_id, tenant=principal.tenant)
    return job_out(job, store.list_artifacts(s, job_id, tenant=principal.tenant))


@router.post("/{job_id}/cancel", response_model=JobOut, responses=_ERRORS, summary="Cancel a job",
             description="A pending job is canceled at once; a running one stops between frames.")
def cancel_job(job_id: str, s: SessionDep, principal: SubmitDep) -> JobOut:
    return job_out(store.request_cancel(s, job_id, tenant=principal.tenant))


@router.post("/{job_id}/retry", response_model=JobOut, responses=_ERRORS, summary="Retry a job",
             description="A failed or canceled job runs again (with a fresh attempts budget); "
             "anything else is 409 `job_not_retryable`.")
def retry_job(job_id: str, s: SessionDep, principal: SubmitDep, runner: RunnerDep) -> JobOut:
    job = store.retry_job(s, job_id, tenant=principal.tenant)
    if runner is not None:
        runner.notify(job.id)
    return job_out(job)


@router.delete("/{job_id}", status_code=204, responses=_ERRORS, summary="Delete a job",
               description="Removes the job, its artifacts and the stored inputs nothing else uses.")
def delete_job(job_id: str, s: SessionDep, principal: SubmitDep, blobs: BlobsDep) -> Response:
    store.delete_job(s, job_id, tenant=principal.tenant, blobs=blobs)
    return Response(status_code=204)
