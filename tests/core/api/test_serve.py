"""`uffizi serve` as a real process: a server killed with SIGKILL in the middle of a job,
started again, finishes that job once (attempts == 2) and loses no other job; the README's
curl flow; a non-loopback bind without keys is refused."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow


class Served:
    def __init__(self, home: Path, model: Path, plugin_dir: Path, port: int, log: Path, **env: str) -> None:
        self.url = f"http://127.0.0.1:{port}"
        environ = {**os.environ, "UFFIZI_HOME": str(home), "UFFIZI_MODEL": str(model), "UFFIZI_DEVICE": "cpu",
                   "UFFIZI_LEASE_S": "2", "UFFIZI_RUNNERS": "1", **env,
                   "PYTHONPATH": os.pathsep.join(filter(None, [str(plugin_dir), os.environ.get("PYTHONPATH")]))}
        self.log = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from uffizi.cli import main; main()", "serve", "--port", str(port),
             "--log-level", "warning"], env=environ, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"uffizi serve exited with {self.proc.returncode}"
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError("uffizi serve did not become ready")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._reap()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._reap()
        self.log.close()

    def _reap(self) -> None:
        """End what the process left behind (its decoder fork server), in its own group only."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path, tiny_model_dir, slow_plugin_dir):
    made: list[Served] = []

    def start(home: Path, port: int, **env: str) -> Served:
        server = Served(home, tiny_model_dir, slow_plugin_dir, port, tmp_path / "serve.log", **env)
        made.append(server)
        return server

    yield start
    for server in made:
        server.stop()


def _wait(client: httpx.Client, job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "canceled"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def test_sigkill_mid_job_then_restart_finishes_it_once(served, backend, tmp_path, make_png):
    home, port = tmp_path / "home", _free_port()
    env = {"UFFIZI_DB_URL": backend} if backend else {}
    first = served(home, port, **env)
    first.wait_ready()
    with httpx.Client(base_url=first.url, timeout=30) as c:
        long = c.post("/v1/jobs", data={"pipeline": "test/slow", "options": '{"steps": 60, "delay_s": 0.1}'},
                      files=[("inputs", ("long.png", make_png()))]).json()
        assert long["provenance"]["plugin"] == {"name": "slowtest", "distribution": "uffizi-slowtest",
                                                "version": "0.3.0"}
        others = [c.post("/v1/jobs", data={"pipeline": "test/slow", "options": '{"steps": 3, "delay_s": 0}'},
                         files=[("inputs", (f"o{i}.png", make_png(seed=i)))]).json()["id"] for i in range(3)]
        deadline = time.monotonic() + 60
        while (job := c.get(f"/v1/jobs/{long['id']}").json())["progress"] < 0.1:
            assert time.monotonic() < deadline, job
            time.sleep(0.1)
        assert job["status"] == "running" and job["attempts"] == 1
    first.kill()

    second = served(home, port, **env)
    second.wait_ready()
    with httpx.Client(base_url=second.url, timeout=30) as c:
        done = _wait(c, long["id"])
        assert done["status"] == "succeeded", done
        assert done["attempts"] == 2
        records = c.get(f"/v1/jobs/{long['id']}/result").json()["records"]
        assert [r["step"] for r in records] == list(range(60))  # ran to the end once, nothing twice
        assert c.get(f"/v1/jobs/{long['id']}/artifacts/summary.txt").content == b"60 steps"
        for job_id in others:
            other = _wait(c, job_id)
            assert other["status"] == "succeeded" and other["attempts"] == 1
        assert len(c.get("/v1/jobs").json()["items"]) == 4


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_readme_curl_flow(served, tmp_path, make_png):
    server = served(tmp_path / "home", _free_port())
    server.wait_ready()
    photo = tmp_path / "photo.png"
    photo.write_bytes(make_png(96, 64))

    def curl(*args: str) -> str:
        out = subprocess.run(["curl", "-sS", "--fail-with-body", *args], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout

    job = json.loads(curl("-F", "pipeline=core/florence@v1", "-F", 'options={"tasks": ["<CAPTION>", "<OD>"]}',
                          "-F", f"inputs=@{photo}", f"{server.url}/v1/jobs"))
    assert job["status"] == "pending"
    stream = curl("-N", f"{server.url}/v1/jobs/{job['id']}/events")
    assert "event: end" in stream and '"status": "succeeded"' in stream.split("event: end", 1)[1]
    shown = json.loads(curl(f"{server.url}/v1/jobs/{job['id']}"))
    assert shown["status"] == "succeeded" and shown["progress"] == 1.0
    result = json.loads(curl(f"{server.url}/v1/jobs/{job['id']}/result?format=json"))
    assert [r["task"] for r in result["records"][0]["results"]] == ["<CAPTION>", "<OD>"]
    curl("-o", str(tmp_path / "photo-annotated.png"), f"{server.url}/v1/jobs/{job['id']}/result?format=png")
    assert (tmp_path / "photo-annotated.png").read_bytes().startswith(b"\x89PNG")
    answer = json.loads(curl("-F", "task=caption", "-F", f"image=@{photo}", f"{server.url}/v1/infer"))
    assert answer["task"] == "<CAPTION>"


def test_non_loopback_bind_without_keys_is_refused(tmp_path, tiny_model_dir):
    env = {**os.environ, "UFFIZI_HOME": str(tmp_path / "home"), "UFFIZI_MODEL": str(tiny_model_dir)}
    out = subprocess.run([sys.executable, "-c", "from uffizi.cli import main; main()", "serve", "--host", "0.0.0.0",
                          "--port", str(_free_port())], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "error[insecure_bind]" in out.stderr and "--insecure" in out.stderr
