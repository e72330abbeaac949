"""Fixtures of the worker tests: real `celery -A uffizi_worker.celery_app worker` subprocesses
against the real Redis (a database number of the test's own, flushed before and after) and a
PostgreSQL database of the test's own; the API on a live uvicorn (`create_app`, the Celery
runner chosen by the `make_runner` hook because a broker URL is set).

All tests here are `needs_services`: skipped with the reason when Redis or PostgreSQL cannot
be reached. The slow test pipeline (`test/slow@v1`) comes from tests/core/api/conftest.py: a
module plus a dist-info folder, put on the workers' PYTHONPATH.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from uffizi.testing import postgres_database

_spec = importlib.util.spec_from_file_location(
    "uffizi_tests_api_fixtures", Path(__file__).resolve().parents[1] / "core" / "api" / "conftest.py")
_api = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _api
_spec.loader.exec_module(_api)

slow_plugin_dir = _api.slow_plugin_dir
slow_plugin = _api.slow_plugin
png_bytes = _api.png_bytes
start = _api.start

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
LEASE_S = 2.0
JOB_TIMEOUT_S = 10.0  # visibility timeout = 10 + 2 * 2 + 5 = 19 s
FINAL = ("succeeded", "failed", "canceled")


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def redis_db_url(port: int = REDIS_PORT) -> str:
    """A Redis URL on a database number no other test of this run uses at the same time."""
    n = 1 + (os.getpid() + time.monotonic_ns() // 1000) % 15
    return f"redis://{REDIS_HOST}:{port}/{n}"


def flush(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.flushdb()
    finally:
        client.close()


@pytest.fixture
def broker_url() -> Iterator[str]:
    if not reachable(REDIS_HOST, REDIS_PORT):
        pytest.skip(f"Redis is not reachable at {REDIS_HOST}:{REDIS_PORT}")
    url = redis_db_url()
    flush(url)
    yield url
    flush(url)


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_database("uffizi_worker") as url:
        yield url


@dataclass
class Cluster:
    """The shared settings of one test's API node and workers, and the workers it started."""

    env: dict[str, str]
    settings: Any
    logs: Path
    workers: list[subprocess.Popen] = field(default_factory=list)

    def start_worker(self, name: str, *, queues: str = "default", concurrency: int = 2,
                     wait: bool = True, cli: bool = False) -> subprocess.Popen:
        """`celery -A uffizi_worker.celery_app worker ...`, or `uffizi worker ...` with `cli`."""
        if cli:
            argv = [str(Path(sys.executable).parent / "uffizi"), "worker", "--queues", queues,
                    "--concurrency", str(concurrency), "--hostname", f"{name}@%h"]
        else:
            argv = [sys.executable, "-m", "celery", "-A", "uffizi_worker.celery_app", "worker",
                    "-Q", queues, "-c", str(concurrency), "-P", "threads", "-n", f"{name}@%h",
                    "--without-gossip", "--without-mingle", "--loglevel", "INFO"]
        with (self.logs / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        proc.log_path = self.logs / f"{name}.log"  # type: ignore[attr-defined]
        self.workers.append(proc)
        if wait:
            self.wait_ready(proc)
        return proc

    def wait_ready(self, proc: subprocess.Popen, timeout: float = 45) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in proc.log_path.read_text(errors="replace"):  # type: ignore[attr-defined]
                return
            if proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"worker did not start:\n{self.log_tail(proc)}")

    def log_tail(self, proc: subprocess.Popen, n: int = 4000) -> str:
        return proc.log_path.read_text(errors="replace")[-n:]  # type: ignore[attr-defined]

    def kill(self, proc: subprocess.Popen) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def stop_all(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(10)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    self.kill(proc)


@pytest.fixture
def cluster(tmp_path: Path, tiny_model_dir: Path, slow_plugin_dir: Path, broker_url: str,
            pg_url: str) -> Iterator[Cluster]:
    from uffizi.settings import Settings
    from uffizi.store.db import Database

    values = {"home": tmp_path / "home", "data_dir": tmp_path / "data", "model": str(tiny_model_dir),
              "device": "cpu", "lease_s": LEASE_S, "job_timeout_s": JOB_TIMEOUT_S,
              "db_url": pg_url, "broker_url": broker_url}
    settings = Settings(**values)
    Database.from_settings(settings).upgrade()
    env = {k: v for k, v in os.environ.items() if not k.startswith("UFFIZI_")}
    env.update({f"UFFIZI_{k.upper()}": str(v) for k, v in values.items()})
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(slow_plugin_dir), env.get("PYTHONPATH")) if p)
    logs = tmp_path / "logs"
    logs.mkdir()
    c = Cluster(env=env, settings=settings, logs=logs)
    yield c
    c.stop_all()


@pytest.fixture
def api(cluster: Cluster, slow_plugin: Any):
    """The API node of the cluster, on a live uvicorn (runs no jobs itself)."""
    from uffizi.api.app import create_app
    from uffizi.platform import Platform
    from uffizi.store.db import Database

    platform = Platform(cluster.settings, plugins=[slow_plugin])
    db = Database.from_settings(cluster.settings)
    app = create_app(cluster.settings, platform=platform, db=db, preload_model=False, webhooks=False)
    live = start(app)
    yield live
    live.stop()
    platform.close()
    db.dispose()


def _wait_all(client: Any, ids: list[str], timeout: float) -> dict[str, dict]:
    """Every job's row once all are final (AssertionError with the stragglers otherwise)."""
    deadline = time.monotonic() + timeout
    done: dict[str, dict] = {}
    while time.monotonic() < deadline:
        for job_id in ids:
            if job_id not in done:
                job = client.get(f"/v1/jobs/{job_id}").json()
                if job["status"] in FINAL:
                    done[job_id] = job
        if len(done) == len(ids):
            return done
        time.sleep(0.2)
    left = {j: client.get(f"/v1/jobs/{j}").json()["status"] for j in ids if j not in done}
    raise AssertionError(f"{len(left)} job(s) did not finish: {left}")


@pytest.fixture
def wait_all():
    """`wait_all(client, ids, timeout) -> {id: job}` once every job is final."""
    return _wait_all


@pytest.fixture
def make_png():
    """`make_png(width=64, height=48, seed=0) -> bytes` of a PNG test image."""
    return png_bytes


@pytest.fixture
def live_start():
    """`live_start(app) -> Live`: the app on a live uvicorn (tests/core/api/conftest.py)."""
    return start
