"""What the service offers and how it is: `/v1/pipelines`, `/v1/tasks`, `/v1/plugins`,
`/healthz` (the process answers), `/readyz` (the store answers, the model is loaded, the
broker answers when one is set; 503 listing what is missing) and `/metrics` (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from uffizi.api.deps import PlatformDep, ReadDep, StateDep
from uffizi.api.metrics import CONTENT_TYPE
from uffizi.api.schemas import ErrorBody, Health, PipelineOut, PluginOut, Readiness, TaskOut
from uffizi.api.state import ServiceState, broker_problem
from uffizi.errors import UffiziError

router = APIRouter(tags=["service"])
_AUTH = {c: {"model": ErrorBody} for c in (401, 403)}


@router.get("/v1/pipelines", response_model=list[PipelineOut], responses=_AUTH, summary="List pipelines",
            description="Every registered pipeline version, with its options JSON schema, the media "
            "types it accepts and the plugin (and distribution version) that registered it.")
def pipelines(platform: PlatformDep, _: ReadDep) -> list[PipelineOut]:
    rows = []
    for pid, pipeline in sorted(platform.pipelines.items()):
        owner = platform.owner_of("pipeline", pid)
        report = platform.report(owner) if owner else None
        rows.append(PipelineOut(**pipeline.describe(), plugin=owner,
                                plugin_version=getattr(report, "version", None)))
    return rows


@router.get("/v1/tasks", response_model=list[TaskOut], responses=_AUTH, summary="List Florence-2 tasks",
            description="The 15 built-in tasks and plugins' custom tasks: token, name, the input "
            "each needs (none, text, region) and the shape of its result.")
def tasks(platform: PlatformDep, _: ReadDep) -> list[TaskOut]:
    return [TaskOut(**t.to_dict()) for t in platform.tasks]


@router.get("/v1/plugins", response_model=list[PluginOut], responses=_AUTH, summary="List plugins",
            description="Every plugin seen: loaded (`ok`), refused (`error`, with why) or `disabled`.")
def plugins(platform: PlatformDep, _: ReadDep) -> list[PluginOut]:
    return [PluginOut(**r.to_dict()) for r in platform.reports]


@router.get("/healthz", response_model=Health, summary="Liveness", description="The process answers. No key needed.")
def healthz() -> Health:
    return Health()


def readiness(state: ServiceState) -> Readiness:
    checks: dict[str, dict] = {}
    try:
        state.db.ping()
        checks["database"] = {"ok": True, "dialect": state.db.dialect}
    except UffiziError as exc:
        checks["database"] = {"ok": False, "reason": exc.message}
    model = state.model.describe()
    checks["model"] = {"ok": model["state"] == "loaded", **model}
    if state.settings.broker_url:
        problem = broker_problem(state.settings.broker_url)
        checks["broker"] = {"ok": problem is None, **({"reason": problem} if problem else {})}
    missing = [name for name, check in checks.items() if not check["ok"]]
    return Readiness(ready=not missing, missing=missing, checks=checks)


@router.get("/readyz", response_model=Readiness, summary="Readiness",
            responses={503: {"model": Readiness, "description": "Not ready: `missing` says what"}},
            description="The store answers, the model is loaded (or why it is not: loading, or "
            "failed with the reason and the setting to change), the broker answers when one is "
            "set. No key needed.")
async def readyz(state: StateDep) -> JSONResponse:
    report = await run_in_threadpool(readiness, state)
    return JSONResponse(report.model_dump(mode="json"), status_code=200 if report.ready else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response, responses={
    200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"}, **_AUTH})
async def metrics(state: StateDep, _: ReadDep) -> Response:
    body = await run_in_threadpool(state.metrics.render)
    return Response(body, media_type=CONTENT_TYPE)
