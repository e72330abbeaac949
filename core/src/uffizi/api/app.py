"""The FastAPI app factory: `create_app(settings=None, *, platform=None, db=None, blobs=None,
runner=None)`.

Whatever is not given is made from the settings: the platform (`get_platform`), the store
(`Database.from_settings`, blobs under `<data dir>/blobs`) and the runner (the
`make_runner(settings)` hook's factory, bound to them; none when `settings.runners` is 0 and
no broker is set). The app's lifespan migrates a store it made itself (so
`uvicorn --factory uffizi.api.app:create_app` works; a store passed in is the caller's to
migrate, as `uffizi serve` does), clears temp files older than an hour, starts the runner,
the webhook dispatcher and the model's background load, and stops them on shutdown. Routes
live in `uffizi.api.routes`; a plugin's routers (`register_routes`) are mounted under
`/v1/plugins/<plugin>/` and need a key with the `read` scope like every other route (a
plugin adds stricter checks with the dependencies of `uffizi.api.deps`).
"""

from __future__ import annotations

import logging
import shutil
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from uffizi import __version__
from uffizi.api import errors
from uffizi.api.auth import Authenticator
from uffizi.api.deps import needs
from uffizi.api.limits import BodyLimit
from uffizi.api.metrics import Metrics, RequestMetrics
from uffizi.api.routes import infer, jobs, keys, meta, results
from uffizi.api.schemas import InferJson, JobSubmit
from uffizi.api.state import ModelStatus, ServiceState
from uffizi.api.webhooks import WebhookDispatcher
from uffizi.settings import Settings, get_settings

log = logging.getLogger("uffizi.api")

DESCRIPTION = """Florence-2 for industry verticals, over REST.

* `POST /v1/infer`: one image, one task, answered at once.
* `POST /v1/jobs`: a pipeline over uploaded files or URLs, run in the background; follow it with
  `GET /v1/jobs/{id}`, `GET /v1/jobs/{id}/events` (server-sent events) or a webhook, then read
  `GET /v1/jobs/{id}/result?format=json|png|...`.

Every error is `{"error": {"code", "message", "details"}}` with a stable code. Once an API key
exists, every call but `/healthz` and `/readyz` needs one (`Authorization: Bearer <key>`)."""

TAGS = [
    {"name": "inference", "description": "Synchronous: one image, one task."},
    {"name": "jobs", "description": "Submit, list, read, cancel, retry and delete jobs."},
    {"name": "results", "description": "Results through the exporters, artifacts, live events."},
    {"name": "service", "description": "Pipelines, tasks, plugins, health, readiness, metrics."},
    {"name": "keys", "description": "API keys and the webhook secret."},
]


def _make_runner(settings: Settings, platform: Any, db: Any, blobs: Any) -> Any:
    if settings.runners == 0 and not settings.broker_url:
        return None
    factory = platform.pm.hook.make_runner(settings=settings)
    if factory is None:
        return None
    return factory.bind(platform, db, blobs) if hasattr(factory, "bind") else factory


def clear_stale(tmp_dir: Path, older_than_s: float = 3600.0) -> None:
    """Remove what requests left in the temp folder (a crash mid-upload); recent entries may
    belong to another process sharing the data directory, so they stay."""
    cutoff = time.time() - older_than_s
    for entry in tmp_dir.glob("*"):
        try:
            if entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        except OSError:
            pass


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The generated schema plus the JSON bodies the two dual-content routes parse by hand."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description,
                             routes=app.routes, tags=TAGS)
        _, extra = models_json_schema([(JobSubmit, "validation"), (InferJson, "validation")],
                                      ref_template="#/components/schemas/{model}")
        schema.setdefault("components", {}).setdefault("schemas", {}).update(extra.get("$defs", {}))
        app.openapi_schema = schema
    return app.openapi_schema


def create_app(settings: Settings | None = None, *, platform: Any = None, db: Any = None,
               blobs: Any = None, runner: Any = None, preload_model: bool = True,
               webhooks: bool = True) -> FastAPI:
    """The service's app. Pass what a test or an embedding process already has."""
    from uffizi.platform import get_platform
    from uffizi.store.blobs import BlobStore
    from uffizi.store.db import Database

    if settings is None:
        settings = platform.settings if platform is not None else get_settings()
    platform = platform or get_platform(settings)
    migrate = db is None
    db = db or Database.from_settings(settings)
    blobs = blobs or BlobStore(settings.resolved_data_dir / "blobs")
    if runner is None:
        runner = _make_runner(settings, platform, db, blobs)
    metrics = Metrics(db)
    model = ModelStatus(platform)
    model.on_loaded.append(metrics.instrument_engine)
    if platform.engine_loaded:
        metrics.instrument_engine(platform.engine())
    state = ServiceState(
        settings=settings, platform=platform, db=db, blobs=blobs, runner=runner, model=model,
        auth=Authenticator(), metrics=metrics, tmp_dir=settings.resolved_data_dir / "tmp",
        webhooks=WebhookDispatcher(settings=settings, db=db, metrics=metrics) if webhooks else None,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if migrate:
            await run_in_threadpool(db.upgrade)
        await run_in_threadpool(clear_stale, state.tmp_dir)
        if preload_model:
            model.start()
        if state.webhooks is not None:
            state.webhooks.start()
        if runner is not None and hasattr(runner, "start"):
            runner.start()
        try:
            yield
        finally:
            if runner is not None and hasattr(runner, "stop"):
                runner.stop(timeout=10.0)
            if state.webhooks is not None:
                state.webhooks.stop()

    app = FastAPI(title="Uffizi", version=__version__, description=DESCRIPTION,
                  openapi_tags=TAGS, lifespan=lifespan)
    app.state.uffizi = state
    errors.install(app)
    for module in (infer, jobs, results, meta, keys):
        app.include_router(module.router)
    for plugin, router in platform.routes:
        app.include_router(router, prefix=f"/v1/plugins/{plugin}", dependencies=[Depends(needs("read"))])
    app.add_middleware(BodyLimit, max_bytes=settings.max_upload_bytes)
    app.add_middleware(RequestMetrics, metrics=metrics)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app
