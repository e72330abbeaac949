"""The API's request and response bodies (pydantic), with the examples OpenAPI shows.

`job_out(job, artifacts)` is the one place a stored `Job` row becomes what clients see.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

JOB_ID_EXAMPLE = "job_01JD3V8X2T6M9QK4R7W5Z1B0CE"


class ErrorInfo(BaseModel):
    code: str = Field(description="Stable error code clients branch on", examples=["corrupt_media"])
    message: str = Field(description="What went wrong and what to change")


class ErrorBody(BaseModel):
    """Every error answer: `{"error": {"code", "message", "details"}}`."""

    error: dict[str, Any] = Field(examples=[{"code": "unknown_pipeline", "details": {},
                                             "message": "unknown pipeline 'x/y'"}])


class InputOut(BaseModel):
    name: str = Field(examples=["street.jpg"])
    sha256: str = Field(description="Hash of the stored (sanitized) input")
    media_type: str = Field(examples=["image/jpeg"])
    size: int
    url: str | None = Field(None, description="Where it was fetched from, for URL inputs")


class ArtifactOut(BaseModel):
    name: str = Field(examples=["overlay.png"])
    media_type: str
    size: int
    sha256: str
    url: str = Field(description="Download path")


class JobOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": JOB_ID_EXAMPLE, "pipeline": "core/florence@v1", "status": "succeeded",
        "progress": 1.0, "attempts": 1, "max_attempts": 3, "error": None,
        "created_at": "2026-01-05T10:00:00Z", "finished_at": "2026-01-05T10:00:02Z",
        "provenance": {"pipeline": {"name": "core/florence", "version": 1},
                       "model": {"id": "florence-community/Florence-2-base", "revision": None}},
    }]})

    id: str
    tenant: str
    pipeline: str = Field(description="`vertical/name@vN`")
    status: str = Field(description="pending, running, succeeded, failed or canceled")
    progress: float = Field(ge=0.0, le=1.0)
    progress_detail: dict[str, Any] | None = None
    attempts: int
    max_attempts: int
    cancel_requested: bool = False
    error: ErrorInfo | None = None
    warnings: list[str] = []
    options: dict[str, Any] = {}
    inputs: list[InputOut] = []
    artifacts: list[ArtifactOut] = []
    provenance: dict[str, Any] = {}
    webhook_url: str | None = None
    created_at: datetime
    updated_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    queued_s: float | None = Field(None, description="Seconds from creation to the last start")
    run_s: float | None = Field(None, description="Seconds from the last start to the end")
    links: dict[str, str] = {}


class JobPage(BaseModel):
    items: list[JobOut]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page")


class Base64Input(BaseModel):
    name: str = Field("input", max_length=255, examples=["photo.jpg"])
    data: str = Field(description="The file's bytes, base64")


class JobSubmit(BaseModel):
    """`POST /v1/jobs` as JSON (uploads as base64); multipart takes the same fields."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "pipeline": "core/florence@v1", "options": {"tasks": ["<CAPTION>", "<OD>"]},
        "urls": ["https://example.com/street.jpg"],
    }]})

    pipeline: str = Field(description="`vertical/name@vN`, or `vertical/name` for the latest")
    options: dict[str, Any] = Field(default_factory=dict, description="The pipeline's options")
    inputs: list[Base64Input] = Field(default_factory=list)
    urls: list[str] = Field(default_factory=list, description="Inputs to fetch (http/https)")
    webhook_url: str | None = Field(None, description="POSTed the job when it ends (HMAC-signed)")


class InferJson(BaseModel):
    """`POST /v1/infer` as JSON: one image (base64 or URL) and one task."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"image_url": "https://example.com/street.jpg", "task": "<OD>"},
        {"image": "<base64>", "task": "<OPEN_VOCABULARY_DETECTION>", "classes": ["car", "bus"]},
    ]})

    image: str | None = Field(None, description="The image's bytes, base64")
    image_url: str | None = Field(None, description="Or a URL to fetch it from")
    task: str = Field(description="Task token or name", examples=["<CAPTION>"])
    text: str | None = None
    region: list[float] | None = Field(None, description="[x1, y1, x2, y2] in pixels")
    classes: list[str] | None = Field(None, description="Open-vocabulary classes, one task each")
    adapter: str | None = None
    max_new_tokens: int | None = Field(None, ge=1, le=4096)


class PipelineOut(BaseModel):
    id: str = Field(examples=["core/florence@v1"])
    name: str
    version: int
    title: str
    description: str
    media_types: list[str]
    streaming: bool
    options_schema: dict[str, Any]
    plugin: str | None = None
    plugin_version: str | None = None


class TaskOut(BaseModel):
    token: str = Field(examples=["<OD>"])
    name: str = Field(examples=["object-detection"])
    input: str = Field(description="none, text or region")
    result: str
    max_new_tokens: int
    description: str
    adapter: str | None = None
    builtin: bool


class PluginOut(BaseModel):
    name: str
    module: str
    version: str | None = None
    dist: str | None = None
    hooks: list[str] = []
    status: str = Field(description="ok, error or disabled")
    error: str | None = None
    builtin: bool = False
    warnings: list[str] = []


class Health(BaseModel):
    status: str = Field("ok", examples=["ok"])


class Readiness(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "ready": False, "missing": ["model"],
        "checks": {"database": {"ok": True, "dialect": "sqlite"},
                   "model": {"ok": False, "state": "failed", "reason": "no such folder"}},
    }]})

    ready: bool
    missing: list[str] = Field(description="The checks that failed")
    checks: dict[str, dict[str, Any]]


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: str = Field("default", examples=["acme"])
    scopes: list[str] = Field(default_factory=lambda: ["submit", "read"],
                              description="submit, read, admin")
    name: str = Field("", max_length=256)


class KeyOut(BaseModel):
    id: str
    tenant: str
    name: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


class KeyCreated(KeyOut):
    key: str = Field(description="The full key; shown this once, stored only hashed")


class WebhookSecret(BaseModel):
    secret: str = Field(description="The HMAC-SHA256 key of this tenant's webhook signatures")
    header: str = Field("X-Uffizi-Signature", description="The header carrying `sha256=<hex>`")


def key_out(row: Any, cls: type[KeyOut] = KeyOut, **extra: Any) -> Any:
    return cls(id=row.id, tenant=row.tenant, name=row.name, scopes=row.scopes.split(","),
               created_at=row.created_at, revoked_at=row.revoked_at,
               last_used_at=row.last_used_at, **extra)


def _seconds(a: datetime | None, b: datetime | None) -> float | None:
    return round((b - a).total_seconds(), 3) if a and b else None


def job_out(job: Any, artifacts: list[Any] = ()) -> JobOut:
    base = f"/v1/jobs/{job.id}"
    error = ErrorInfo(code=job.error_code, message=job.error_message or "") if job.error_code else None
    return JobOut(
        id=job.id, tenant=job.tenant, pipeline=job.pipeline, status=job.status,
        progress=min(max(job.progress or 0.0, 0.0), 1.0), progress_detail=job.progress_detail,
        attempts=job.attempts, max_attempts=job.max_attempts,
        cancel_requested=bool(job.cancel_requested), error=error, warnings=job.warnings or [],
        options=job.options or {}, inputs=[InputOut(**{k: i.get(k) for k in InputOut.model_fields})
                                           for i in job.inputs or []],
        artifacts=[ArtifactOut(name=a.name, media_type=a.media_type, size=a.size, sha256=a.sha256,
                               url=f"{base}/artifacts/{a.name}") for a in artifacts],
        provenance=job.provenance or {}, webhook_url=job.webhook_url,
        created_at=job.created_at, updated_at=job.updated_at, started_at=job.started_at,
        finished_at=job.finished_at, queued_s=_seconds(job.created_at, job.started_at),
        run_s=_seconds(job.started_at, job.finished_at),
        links={"self": base, "events": f"{base}/events", "result": f"{base}/result",
               "cancel": f"{base}/cancel", "retry": f"{base}/retry"},
    )
