"""Fixtures of the API tests: real uvicorn servers on loopback ports, real engine (tiny
checkpoint), SQLite or PostgreSQL stores, and `test/slow@v1`, a slow pipeline from a
throwaway plugin distribution (a module plus a dist-info folder on a temp path).

- `service(...)`: start a server in a thread (`create_app` on uvicorn) and get a `Live`
  (url, state, httpx client); everything it started is stopped at teardown.
- `backend`: "sqlite" or "postgresql" (`needs_services`; a database of its own, created and
  dropped here; skipped with the reason when 127.0.0.1:5432 cannot be reached).
- `slow_plugin_dir`: the folder to put on PYTHONPATH (subprocess servers) / `slow_plugin`:
  the module itself (in-thread servers get it through `Platform(plugins=[...])`).
"""

from __future__ import annotations

import importlib.util
import io
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from uffizi.testing import postgres_database

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.needs_services)]

SLOW_PLUGIN = '''
"""test/slow@v1: sleeps `delay_s` per step, `steps` steps per frame; one record per step."""
import time

from pydantic import BaseModel, ConfigDict, Field

from uffizi import Pipeline, hookimpl


class SlowOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    steps: int = Field(5, ge=1, le=100000)
    delay_s: float = Field(0.02, ge=0, le=10)


class SlowPipeline(Pipeline):
    name = "test/slow"
    version = 1
    title = "Slow test pipeline"
    options_model = SlowOptions
    media_types = ("image/*",)

    def run(self, frames, *, engine, options, ctx):
        frames = list(frames)
        total, done = len(frames) * options.steps, 0
        for frame in frames:
            for step in range(options.steps):
                ctx.check_cancel()
                time.sleep(options.delay_s)
                done += 1
                ctx.append({"input": frame.meta.get("input", 0), "frame": frame.index, "step": step})
                ctx.progress(done, total)
        ctx.add_artifact("summary.txt", data=f"{done} steps".encode(), media_type="text/plain")


@hookimpl
def register_pipelines(register):
    register(SlowPipeline())
'''


def png_bytes(width: int = 64, height: int = 48, seed: int = 0) -> bytes:
    from uffizi.testing import make_test_image

    buf = io.BytesIO()
    make_test_image(width, height, seed).save(buf, "PNG")
    return buf.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def slow_plugin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("slow-plugin")
    (root / "uffizi_slowtest.py").write_text(SLOW_PLUGIN)
    info = root / "uffizi_slowtest-0.3.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: uffizi-slowtest\nVersion: 0.3.0\n")
    (info / "entry_points.txt").write_text("[uffizi]\nslowtest = uffizi_slowtest\n")
    return root


@pytest.fixture(scope="session")
def slow_plugin(slow_plugin_dir: Path) -> Any:
    spec = importlib.util.spec_from_file_location("uffizi_slowtest", slow_plugin_dir / "uffizi_slowtest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL database of this test's own, dropped afterwards."""
    with postgres_database("uffizi_api") as url:
        yield url


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str | None:
    """None (SQLite in the service's data dir) or a PostgreSQL URL."""
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("pg_url")


@dataclass
class Live:
    url: str
    app: Any
    server: Any
    thread: threading.Thread

    @property
    def state(self) -> Any:
        return self.app.state.uffizi

    def client(self, key: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, trust_env=False, **kwargs)

    def wait_ready(self, timeout: float = 60) -> None:
        assert self.state.model.wait(timeout), self.state.model.describe()

    def wait_job(self, client: httpx.Client, job_id: str, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = client.get(f"/v1/jobs/{job_id}").json()
            if job["status"] in ("succeeded", "failed", "canceled"):
                return job
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} did not finish: {job}")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def start(app: Any) -> Live:
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                           timeout_graceful_shutdown=5))
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    return Live(f"http://127.0.0.1:{port}", app, server, thread)


@pytest.fixture
def service(tmp_path: Path, tiny_model_dir: Path, slow_plugin: Any):
    """`service(db_url=None, model=None, **settings)` -> a running `Live` server."""
    from uffizi.api.app import create_app
    from uffizi.platform import Platform
    from uffizi.settings import Settings
    from uffizi.store.db import Database

    started: list[tuple[Live, Any, Any]] = []

    def make(db_url: str | None = None, *, preload: bool = True, app_kwargs: dict | None = None,
             plugins: tuple = (), **overrides: Any) -> Live:
        values = {"home": tmp_path / f"home{len(started)}", "model": str(tiny_model_dir),
                  "device": "cpu", "runners": 2, "lease_s": 5.0, "db_url": db_url, **overrides}
        settings = Settings(**values)
        platform = Platform(settings, plugins=[slow_plugin, *plugins])
        db = Database.from_settings(settings)
        db.upgrade()
        app = create_app(settings, platform=platform, db=db, preload_model=preload, **(app_kwargs or {}))
        live = start(app)
        started.append((live, platform, db))
        return live

    yield make
    for live, platform, db in reversed(started):
        live.stop()
        platform.close()
        db.dispose()


@pytest.fixture
def make_png():
    """`make_png(width=64, height=48, seed=0) -> bytes` of a PNG test image."""
    return png_bytes
