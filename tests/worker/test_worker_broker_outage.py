"""The broker down or restarted: a submit while Redis is down still runs (the sweeper enqueues
it once the broker is back), and Redis killed and restarted mid-run loses no job and runs none
twice. The test runs its own redis-server on a free port (no persistence: a restart loses the
queue, the worst case the sweeper must cover)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.needs_services, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OwnRedis:
    """A redis-server of this test's own: `start()`, `kill()`, `url`."""

    def __init__(self, workdir: Path, port: int) -> None:
        self.workdir, self.port = workdir, port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=self.port, socket_connect_timeout=0.5).ping()
                return
            except redis.exceptions.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)



@pytest.fixture
def own_redis(tmp_path: Path):
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = OwnRedis(tmp_path, free_port())
    yield server
    server.kill()


@pytest.fixture
def broker_url(own_redis: OwnRedis) -> str:  # overrides conftest's: the test's own server
    return own_redis.url


@pytest.fixture
def api(cluster, slow_plugin, live_start):
    """The API node with a sweeper that re-sends jobs pending for more than 2 s."""
    from uffizi.api.app import create_app
    from uffizi.platform import Platform
    from uffizi.store.blobs import BlobStore
    from uffizi.store.db import Database
    from uffizi_worker.runner import CeleryRunnerFactory

    platform = Platform(cluster.settings, plugins=[slow_plugin])
    db = Database.from_settings(cluster.settings)
    blobs = BlobStore(cluster.settings.resolved_data_dir / "blobs")
    runner = CeleryRunnerFactory(cluster.settings, sweep_after_s=2.0, sweep_interval_s=0.5).bind(platform, db, blobs)
    app = create_app(cluster.settings, platform=platform, db=db, blobs=blobs, runner=runner,
                     preload_model=False, webhooks=False)
    live = live_start(app)
    yield live
    live.stop()
    platform.close()
    db.dispose()


def _submit(c, make_png, i: int, steps: int = 2, delay_s: float = 0.0) -> str:
    r = c.post("/v1/jobs", data={"pipeline": "test/slow",
                                 "options": json.dumps({"steps": steps, "delay_s": delay_s})},
               files=[("inputs", (f"{i}.png", make_png(seed=i), "image/png"))])
    assert r.status_code == 202, r.text
    return r.json()["id"]


def test_submit_while_the_broker_is_down_runs_once_it_is_back(cluster, api, own_redis, make_png, wait_all):
    with api.client() as c:
        t0 = time.monotonic()
        ids = [_submit(c, make_png, i) for i in range(3)]  # Redis is not running yet
        assert time.monotonic() - t0 < 30  # each submit fails fast, it does not hang
        assert all(c.get(f"/v1/jobs/{j}").json()["status"] == "pending" for j in ids)
        own_redis.start()
        cluster.start_worker("w1")
        jobs = wait_all(c, ids, timeout=60)
    assert all((j["status"], j["attempts"]) == ("succeeded", 1) for j in jobs.values()), jobs


def test_redis_killed_and_restarted_mid_run_every_job_ends_once(cluster, api, own_redis, make_png, wait_all):
    own_redis.start()
    cluster.start_worker("w1")
    with api.client() as c:
        ids = [_submit(c, make_png, i, steps=5, delay_s=0.05) for i in range(12)]
        time.sleep(1.0)
        assert any(c.get(f"/v1/jobs/{j}").json()["status"] == "pending" for j in ids)  # work is queued
        own_redis.kill()  # the queue (no persistence) and the unacknowledged messages are gone
        ids += [_submit(c, make_png, 100 + i) for i in range(3)]  # submitted while it is down
        time.sleep(2.0)
        own_redis.start()
        jobs = wait_all(c, ids, timeout=75)
    bad = {k: (v["status"], v["attempts"]) for k, v in jobs.items()
           if (v["status"], v["attempts"]) != ("succeeded", 1)}
    assert not bad, bad
