"""What a job leaves behind: `/result?format=` (through the registered exporters),
`/artifacts/{name}` (files the pipeline added) and `/events` (server-sent events).

The result is rebuilt as a `RunResult` from the stored records blob, the artifacts and the
inputs (linked out of the blob store under their submitted names, for exporters that draw on
them), exported into a temporary folder, and sent: one file as itself, several as a zip.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from collections.abc import AsyncIterable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from starlette.background import BackgroundTask

from uffizi.api.deps import BlobsDep, PlatformDep, ReadDep, SessionDep, StateDep
from uffizi.api.schemas import ErrorBody
from uffizi.api.sse import job_events
from uffizi.errors import ArtifactNotFound, JobNotFinished, UffiziError
from uffizi.jobs.execute import materialize_inputs
from uffizi.pipeline import Artifact, RunResult
from uffizi.store import jobs as store

router = APIRouter(prefix="/v1/jobs", tags=["results"])
_ERRORS: dict[int | str, dict[str, Any]] = {c: {"model": ErrorBody} for c in (401, 403, 404, 409)}


def _files(content: dict[str, Any], description: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"description": description, "content": content}, **_ERRORS}


def rebuild(job: Any, artifacts: list[Any], blobs: Any) -> RunResult:
    with blobs.open(job.records_sha256) as f:
        records = json.load(f)
    if isinstance(records, dict):
        records = records.get("records", [])
    return RunResult(
        pipeline=job.pipeline, records=records, warnings=list(job.warnings or []),
        artifacts=[Artifact(a.name, a.media_type, path=blobs.path(a.sha256)) for a in artifacts],
        inputs=[str(i.get("name", "")) for i in job.inputs],
    )


@router.get("/{job_id}/result", responses=_files(
    {"application/json": {}, "image/png": {}, "application/zip": {}},
    "The result in the format asked for: one file as itself, several files as a zip"),
    summary="Export a job's result", response_class=FileResponse)
def get_result(
    job_id: str, s: SessionDep, principal: ReadDep, state: StateDep, platform: PlatformDep,
    blobs: BlobsDep,
    fmt: Annotated[str, Query(alias="format", description="A registered exporter: json, png, ...")] = "json",
) -> FileResponse:
    job = store.get_job(s, job_id, tenant=principal.tenant)
    if job.status != "succeeded" or not job.records_sha256:
        raise JobNotFinished(f"job {job_id} is {job.status}; a result exists once it has succeeded",
                             details={"status": job.status, "error_code": job.error_code})
    exporter = platform.get_exporter(fmt)
    result = rebuild(job, store.list_artifacts(s, job_id, tenant=principal.tenant), blobs)
    state.tmp_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="export-", dir=state.tmp_dir))
    cleanup = BackgroundTask(shutil.rmtree, work, ignore_errors=True)
    try:
        inputs = materialize_inputs(job, blobs, work / "inputs")
        written = exporter.export(result, work / "out", inputs=inputs)
        if len(written) == 1:
            return FileResponse(written[0], media_type=exporter.media_type,
                                filename=written[0].name, background=cleanup)
        archive = work / f"{job_id}-{exporter.format}.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in written:
                zf.write(path, path.relative_to(work / "out"))
        return FileResponse(archive, media_type="application/zip", filename=archive.name,
                            background=cleanup)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


@router.get("/{job_id}/artifacts/{name:path}", response_class=FileResponse, summary="Download an artifact",
            responses=_files({"application/octet-stream": {}}, "The artifact, with its media type"))
def get_artifact(job_id: str, name: str, s: SessionDep, principal: ReadDep, blobs: BlobsDep) -> FileResponse:
    try:
        artifact = store.get_artifact(s, job_id, name, tenant=principal.tenant)
    except UffiziError as exc:
        if "artifact" in exc.details:
            raise ArtifactNotFound(exc.message, details=exc.details) from None
        raise
    return FileResponse(blobs.path(artifact.sha256), media_type=artifact.media_type,
                        filename=Path(artifact.name).name)


def _job_exists(job_id: str, s: SessionDep, principal: ReadDep) -> None:
    """Checked before the stream starts, so an unknown job is a plain 404."""
    store.get_job(s, job_id, tenant=principal.tenant)


@router.get("/{job_id}/events", response_class=EventSourceResponse, summary="Stream a job's events",
            responses={200: {"description": "Server-sent events: `status` (the job), `progress`, "
                             "then `end` after a final status"}, **_ERRORS})
async def events(job_id: str, principal: ReadDep, state: StateDep,
                 _exists: Annotated[None, Depends(_job_exists)]) -> AsyncIterable[ServerSentEvent]:
    async for event in job_events(state.db, job_id, principal.tenant):
        yield event
