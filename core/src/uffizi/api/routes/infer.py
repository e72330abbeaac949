"""`POST /v1/infer`: one image, one task, the engine's answer (synchronous).

The image comes as a multipart file (`image`), as base64 in JSON (`image`), or as a URL
(`image_url`, through the guarded fetcher). The task and its inputs are checked against the
task table (`TaskRequest.resolve`) before the image is read; `classes` runs one
open-vocabulary task per class over one image encoding; a named adapter that is not
registered is 404 `unknown_adapter`. The call runs `engine.run_many` in the threadpool, so
concurrent requests meet in the engine's batcher. Untrusted bytes are decoded in the sandbox.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from uffizi.api.deps import StateDep, SubmitDep
from uffizi.api.intake import Intake
from uffizi.api.schemas import ErrorBody, InferJson
from uffizi.api.state import ServiceState
from uffizi.engine.requests import TaskRequest
from uffizi.errors import InvalidInput, MissingTaskInput, UnknownAdapter, UnsupportedMedia
from uffizi.results import TaskResult

_FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")
router = APIRouter(prefix="/v1", tags=["inference"])

_OVD = "<OPEN_VOCABULARY_DETECTION>"
_MULTIPART = {
    "type": "object", "required": ["task"],
    "properties": {
        "image": {"type": "string", "format": "binary"},
        "image_url": {"type": "string"},
        "task": {"type": "string", "example": "<OD>"},
        "text": {"type": "string"},
        "region": {"type": "string", "description": "x1,y1,x2,y2 in pixels (or a JSON array)"},
        "classes": {"type": "string", "description": "Comma-separated (or a JSON array)"},
        "adapter": {"type": "string"},
        "max_new_tokens": {"type": "integer"},
    },
}
INFER_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": _MULTIPART},
    "application/json": {"schema": {"$ref": "#/components/schemas/InferJson"}},
}}}


def _list(value: Any, field: str, cast: type) -> list[Any] | None:
    if value in (None, ""):
        return None
    try:
        items = json.loads(value) if value.strip().startswith("[") else value.split(",")
        return [cast(v.strip()) if isinstance(v, str) else cast(v) for v in items if str(v).strip()]
    except (ValueError, TypeError, AttributeError):
        raise RequestValidationError([{"loc": ("body", field), "type": "value_error",
                                       "msg": f"{field} must be a comma-separated list or a JSON array"}]) from None


def _from_form(form: Any) -> tuple[InferJson, UploadFile | None]:
    image = form.get("image")
    fields = {k: form.get(k) for k in ("image_url", "task", "text", "adapter", "max_new_tokens")}
    fields = {k: v for k, v in fields.items() if v not in (None, "")}
    fields["region"] = _list(form.get("region"), "region", float)
    fields["classes"] = _list(form.get("classes"), "classes", str)
    try:
        body = InferJson.model_validate(fields)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None
    return body, image if isinstance(image, UploadFile) else None


def task_requests(state: ServiceState, body: InferJson) -> list[TaskRequest]:
    """The engine requests for this call, checked against the task table and the adapters."""
    if body.adapter and body.adapter not in state.platform.adapters:
        known = sorted(state.platform.adapters)
        raise UnknownAdapter(f"unknown adapter {body.adapter!r}; registered: {', '.join(known) or '(none)'}",
                             details={"adapter": body.adapter, "known": known})
    common = {"max_new_tokens": body.max_new_tokens, "adapter": body.adapter}
    try:
        if body.classes:
            task = state.platform.tasks.get(body.task)
            if task.token != _OVD or body.text:
                raise MissingTaskInput(f"classes go with {_OVD} and no text; got {task.token}")
            requests = [TaskRequest(task=_OVD, text=c, **common) for c in body.classes]
        else:
            requests = [TaskRequest(task=body.task, text=body.text, region=body.region, **common)]
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None
    for request in requests:
        request.resolve(state.platform.tasks)
    return requests


def run_infer(state: ServiceState, body: InferJson, upload: UploadFile | None) -> TaskResult:
    requests = task_requests(state, body)
    given = [x for x in (upload, body.image, body.image_url) if x]
    if len(given) != 1:
        raise InvalidInput("give exactly one image: a file `image`, base64 `image`, or `image_url`",
                           details={"field": "image"})
    engine = state.model.engine()
    with Intake(platform=state.platform, blobs=state.blobs, tmp_dir=state.tmp_dir) as intake:
        if upload is not None:
            staged = intake.add_stream(upload.filename or "image", upload.file)
        elif body.image:
            staged = intake.add_base64("image", body.image, field="image")
        else:
            staged = intake.add_url(str(body.image_url), settings=state.settings)
        _, media_type = state.platform.sniff(staged.path)
        if not media_type.startswith("image/"):
            raise UnsupportedMedia(f"{staged.name} is {media_type}; /v1/infer takes one image")
        results = engine.run_many(staged.path, requests)
    if body.classes:
        from uffizi.engine.core import merge_results

        return merge_results(results, labels=body.classes)
    return results[0]


@router.post("/infer", response_model=TaskResult, openapi_extra=INFER_BODY, summary="Run one task on one image",
             responses={c: {"model": ErrorBody} for c in (401, 403, 404, 413, 415, 422, 503)},
             description="Synchronous: the engine's `TaskResult` (text, detections with scores in "
             "image pixels, timings). Multipart with a file `image`, or JSON with base64 `image` or "
             "`image_url`. Concurrent calls are batched by the engine.")
async def infer(request: Request, state: StateDep, principal: SubmitDep) -> Any:
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype in _FORMS:
        async with request.form(max_files=1, max_fields=20, max_part_size=1024 * 1024) as form:
            body, upload = _from_form(form)
            return await run_in_threadpool(run_infer, state, body, upload)
    if ctype == "application/json" or ctype.endswith("+json"):
        try:
            body = InferJson.model_validate(await request.json())
        except ValueError as exc:
            errors = exc.errors() if isinstance(exc, ValidationError) else [
                {"loc": (), "msg": "the body is not valid JSON", "type": "json_invalid"}]
            raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from None
        return await run_in_threadpool(run_infer, state, body, None)
    raise UnsupportedMedia(f"send multipart/form-data or application/json, not {ctype or '(none)'}")

