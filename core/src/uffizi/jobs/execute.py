"""`execute_job`: run one stored job, start to finish. Every runner calls this one function.

It claims the job (or returns its row when another runner holds it), links its inputs out of
the blob store under their submitted names, loads the engine, runs the pipeline through
`uffizi.runner.run_pipeline` with a `JobContext`, stores the result records (a JSON array,
sorted keys) and the artifacts as blobs, and finishes the row:

- succeeded, progress 1.0, `records_sha256`, warnings, artifacts, and `provenance["run"]`
  (engine info, runner, attempt);
- failed with the `UffiziError`'s code and message (`internal_error` and a one-line message
  otherwise: the traceback goes to the log, never to the row), `model_unavailable` naming
  UFFIZI_MODEL when the engine cannot load, `job_timeout` past `timeout_s`;
- canceled when a cancel was requested (the pipeline stops at its next `ctx.check_cancel()`).

While it runs, a monitor thread renews the lease every `lease_s / 3` and polls the cancel
flag; losing the lease (another runner took the job over) stops the run and leaves the row to
the new owner. Progress is written at most every `PROGRESS_INTERVAL_S`, and always at 1.0.
Nothing stored is lost on error: a failed job keeps its row and its inputs.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from uffizi.errors import Canceled, InvalidInput, JobTimeout, ModelUnavailable, PluginError, UffiziError
from uffizi.pipeline import RunContext, RunResult
from uffizi.runner import run_pipeline
from uffizi.store import jobs as store
from uffizi.store.blobs import BlobStore
from uffizi.store.db import Database
from uffizi.store.models import Job

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.5
MAX_MESSAGE = 2000


class JobContext(RunContext):
    """A `RunContext` that persists progress (throttled), sees cancel requests (set by the
    monitor) and raises `JobTimeout` from `check_cancel()` once the deadline has passed."""

    def __init__(self, pipeline: str, *, db: Database, job_id: str, owner: str,
                 timeout_s: float | None, interval_s: float = PROGRESS_INTERVAL_S) -> None:
        super().__init__(pipeline, cancel_event=threading.Event())
        self.db, self.job_id, self.owner, self.interval_s = db, job_id, owner, interval_s
        self.timeout_s = timeout_s
        self.deadline = time.monotonic() + timeout_s if timeout_s else None
        self.lost = False  # the lease went to another runner
        self.timed_out = False
        self._write_lock = threading.Lock()
        self._last_write = float("-inf")
        self._pending: tuple[float, dict[str, Any]] | None = None

    def progress(self, done: int, total: int | None = None) -> None:
        super().progress(done, total)
        now = time.monotonic()
        with self._write_lock:
            self._pending = (self.progress_value, {"done": done, "total": total})
            if self.progress_value < 1.0 and now - self._last_write < self.interval_s:
                return
            self._last_write = now
            self._flush()

    def flush_progress(self) -> None:
        with self._write_lock:
            self._flush()

    def _flush(self) -> None:
        if self._pending is None:
            return
        value, detail = self._pending
        self._pending = None
        try:
            with self.db.session() as s:
                store.set_progress(s, self.job_id, owner=self.owner, progress=value, detail=detail)
        except Exception as exc:  # progress is advisory: a store hiccup must not fail the job
            log.warning("job %s: progress not saved: %s", self.job_id, exc)

    def past_deadline(self) -> bool:
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.timed_out = True
        return self.timed_out

    def check_cancel(self) -> None:
        if self.past_deadline():
            raise JobTimeout(f"the job ran longer than its timeout of {self.timeout_s:g} s")
        super().check_cancel()


class Monitor(threading.Thread):
    """Renews the lease and polls the cancel flag until stopped."""

    def __init__(self, ctx: JobContext, *, lease_s: float) -> None:
        super().__init__(name=f"uffizi-lease-{ctx.job_id}", daemon=True)
        self.ctx, self.lease_s = ctx, lease_s
        self.poll_s = max(0.05, min(0.5, lease_s / 4))
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()
        self.join()

    def run(self) -> None:
        ctx = self.ctx
        next_renew = time.monotonic() + self.lease_s / 3
        while not self._stop_event.wait(self.poll_s):
            try:
                with ctx.db.session() as s:
                    if time.monotonic() >= next_renew:
                        if not store.renew_lease(s, ctx.job_id, owner=ctx.owner, lease_s=self.lease_s):
                            log.warning("job %s: lease lost by %s; stopping", ctx.job_id, ctx.owner)
                            ctx.lost = True
                            ctx.cancel()
                            return
                        next_renew = time.monotonic() + self.lease_s / 3
                    if store.cancel_requested(s, ctx.job_id):
                        ctx.cancel()
            except Exception as exc:  # the store is down: keep trying until the lease tells
                log.warning("job %s: lease monitor: %s", ctx.job_id, exc)


def _safe_name(name: Any, index: int) -> str:
    base = Path(str(name or "")).name.replace("\x00", "")[:200]
    return base if base not in ("", ".", "..") else f"input-{index}"


def materialize_inputs(job: Job, blobs: BlobStore, workdir: Path) -> list[Path]:
    """Link each stored input into `workdir/<i>/<its submitted name>` (copy where links fail)."""
    paths = []
    for i, item in enumerate(job.inputs):
        source = blobs.path(str(item.get("sha256", "")))
        if not source.is_file():
            raise InvalidInput(f"input {i} ({_safe_name(item.get('name'), i)}) is no longer stored")
        target = workdir / str(i) / _safe_name(item.get("name"), i)
        target.parent.mkdir(parents=True)
        try:
            target.symlink_to(source)
        except OSError:
            shutil.copyfile(source, target)
        paths.append(target)
    return paths


def load_engine(platform: Any) -> Any:
    """The platform's engine; `ModelUnavailable` naming UFFIZI_MODEL when it cannot load."""
    try:
        return platform.engine()
    except PluginError:
        raise
    except Exception as exc:
        why = exc.message if isinstance(exc, UffiziError) else f"{type(exc).__name__}: {exc}"
        log.error("the engine cannot be loaded", exc_info=exc)
        raise ModelUnavailable(
            f"the model cannot be loaded ({why.rstrip('.')}). Set UFFIZI_MODEL (now "
            f"{platform.settings.model!r}) to a preset, a checkpoint folder or a hub id that loads; "
            "`uffizi model doctor` says what is wrong", details={"setting": "UFFIZI_MODEL"},
        ) from None


def store_result(result: RunResult, blobs: BlobStore) -> tuple[str, list[tuple[str, str, str, int]]]:
    """Store the records (JSON array) and artifacts; returns (records_sha256, artifact rows)."""
    from uffizi.exporters.json_export import result_document

    records = result_document(RunResult(result.pipeline, records=result.records))["records"]
    text = json.dumps(records, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    records_sha, _ = blobs.put_bytes(text.encode("utf-8"))
    rows: dict[str, tuple[str, str, str, int]] = {}
    for artifact in result.artifacts:
        if artifact.name in rows:
            result.warnings.append(f"artifact {artifact.name!r} was added twice; the last one is kept")
        if artifact.data is not None:
            sha, size = blobs.put_bytes(artifact.data)
        else:
            sha, size = blobs.put_file(artifact.path)
        rows[artifact.name] = (artifact.name, artifact.media_type, sha, size)
    return records_sha, list(rows.values())


def _message(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, UffiziError) else str(exc)
    return (text or type(exc).__name__)[:MAX_MESSAGE]


def execute_job(job_id: str, *, platform: Any, db: Database, blobs: BlobStore, owner: str,
                lease_s: float) -> Job:
    """Claim job `job_id` and run it; returns its row afterwards. When another runner holds
    it (or it is final) nothing runs and its current row is returned."""
    with db.session() as s:
        claimed = store.claim_job(s, owner=owner, lease_s=lease_s, job_id=job_id)
        if claimed is None:
            return store.get_job(s, job_id)
    return run_claimed(job_id, platform=platform, db=db, blobs=blobs, owner=owner, lease_s=lease_s)


def run_claimed(job_id: str, *, platform: Any, db: Database, blobs: BlobStore, owner: str,
                lease_s: float) -> Job:
    """Run a job `owner` has just claimed, and finish its row."""
    with db.session() as s:
        job = store.get_job(s, job_id)  # a snapshot for this thread (detached when the session closes)
    try:
        streaming = platform.get_pipeline(job.pipeline).streaming
    except UffiziError:
        streaming = False  # run_pipeline reports the unknown pipeline
    ctx = JobContext(job.pipeline, db=db, job_id=job_id, owner=owner,
                     timeout_s=None if streaming else job.timeout_s)
    monitor = Monitor(ctx, lease_s=lease_s)
    monitor.start()
    workdir = Path(tempfile.mkdtemp(prefix="uffizi-job-"))
    fields: dict[str, Any]
    stored: list[str | None] = []
    try:
        paths = materialize_inputs(job, blobs, workdir)
        engine = load_engine(platform)
        result = run_pipeline(platform, job.pipeline, paths, job.options, ctx=ctx, job=job)
        if ctx.past_deadline():  # a run that ends past its deadline has still timed out
            raise JobTimeout(f"the job ran longer than its timeout of {ctx.timeout_s:g} s")
        records_sha, artifacts = store_result(result, blobs)
        stored = [records_sha, *(a[2] for a in artifacts)]
        info = getattr(engine, "info", None)
        fields = dict(status="succeeded", records_sha256=records_sha, warnings=result.warnings,
                      artifacts=artifacts, provenance={"run": {
                          "engine": info if isinstance(info, dict) else None,
                          "runner": owner, "attempt": job.attempts}})
    except Exception as exc:
        ctx.past_deadline()
        if ctx.timed_out and isinstance(exc, (Canceled, JobTimeout)):
            exc = JobTimeout(f"the job ran longer than its timeout of {ctx.timeout_s:g} s")
        if isinstance(exc, Canceled):
            fields = dict(status="canceled", error_code="canceled", error_message="the job was canceled")
        elif isinstance(exc, UffiziError):
            log.info("job %s failed: %s: %s", job_id, exc.code, exc.message)
            fields = dict(status="failed", error_code=exc.code, error_message=_message(exc))
        else:
            log.error("job %s failed", job_id, exc_info=exc)
            fields = dict(status="failed", error_code="internal_error",
                          error_message=f"the job failed with an internal error ({type(exc).__name__}); "
                          "the server log has the details")
        fields["warnings"] = ctx.result.warnings
        fields["progress"] = ctx.progress_value
    finally:
        monitor.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    with db.session() as s:
        if not ctx.lost:
            finished = store.finish_job(s, job_id, owner=owner, **fields)
            if finished is not None:
                return finished
        log.warning("job %s: %s no longer holds it; its outcome is dropped", job_id, owner)
        store.delete_blobs_unreferenced(s, blobs, stored)
        try:
            return store.get_job(s, job_id)
        except UffiziError:
            return job
