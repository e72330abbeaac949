"""The READMEs' code blocks work as written (with a local tiny model and a sample photo in
place of the hub model and the user's photos)."""

from __future__ import annotations

import ast
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"```(\w+)\n(.*?)```", re.S)


def blocks(path: Path, lang: str) -> list[str]:
    return [body for kind, body in FENCE.findall(path.read_text()) if kind == lang]


def uffizi_lines(path: Path) -> list[str]:
    lines = []
    for body in blocks(path, "bash"):
        for line in body.splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith("uffizi "):
                lines.append(line)
    return lines


def _run(argv: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return {**os.environ, "UFFIZI_HOME": str(tmp_path_factory.mktemp("home"))}


def test_readme_python_block_runs(tmp_path, tiny_model_dir, sample_image_path, env):
    (code,) = blocks(ROOT / "README.md", "python")
    code = code.replace("florence-community/Florence-2-base", str(tiny_model_dir))
    code = code.replace("photo.jpg", str(sample_image_path))
    code += "\nassert 0 <= min([d.score for d in result.detections] or [0]) <= 1\nengine.close()\n"
    proc = _run([sys.executable, "-c", code], env)
    assert proc.returncode == 0, proc.stderr


def test_readme_first_job_commands_run(tmp_path, tiny_model_dir, sample_image_path, env):
    runs = [ln for ln in uffizi_lines(ROOT / "README.md") if ln.startswith("uffizi run ")]
    assert len(runs) >= 4
    for line in runs:
        argv = shlex.split(line)
        argv = [str(sample_image_path) if a.endswith((".jpg", ".png")) else a for a in argv]
        argv += ["--model", str(tiny_model_dir), "--out", str(tmp_path / "out")]
        proc = _run([sys.executable, "-c", "from uffizi.cli import main; main()", *argv[1:]], env)
        assert proc.returncode == 0, (line, proc.stderr)


@pytest.mark.parametrize("readme", ["README.md", "plugins/README.md"])
def test_every_uffizi_command_shown_exists(readme, env):
    seen = set()
    for line in uffizi_lines(ROOT / readme):
        words = [w for w in shlex.split(line)[1:3] if not w.startswith("-")]
        # a sub-app command is two words (model pull); a plain command one (run)
        for n in (2, 1):
            key = tuple(words[:n])
            if key in seen:
                break
            proc = _run([sys.executable, "-c", "from uffizi.cli import main; main()", *key,
                         "--help"], env)
            if proc.returncode == 0 and "Usage" in proc.stdout:
                seen.add(key)
                break
        else:
            pytest.fail(f"{readme}: `{line}` names a command uffizi does not have")


@pytest.mark.parametrize("readme", ["README.md", "plugins/README.md", "plugins/example/README.md"])
def test_python_blocks_are_valid_python(readme):
    for code in blocks(ROOT / readme, "python"):
        lines, out = code.splitlines(), []
        for i, line in enumerate(lines):  # signature-only blocks (`def hook(x):`) get a body
            out.append(line)
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            if line.rstrip().endswith(":") and not nxt.startswith((" ", "\t")):
                out.append(" " * (len(line) - len(line.lstrip()) + 4) + "...")
        ast.parse("\n".join(out))


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_server(tmp_path, tiny_model_dir, env):
    """`uffizi serve` as scripts/run starts it, on a free port, with the tiny model."""
    import time
    import urllib.request

    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from uffizi.cli import main; main()", "serve", "--model",
         str(tiny_model_dir), "--port", str(port), "--log-level", "warning"],
        env={**env, "UFFIZI_HOME": str(tmp_path / "home"), "UFFIZI_LOAD_PLUGINS": ""},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail(f"uffizi serve did not become ready: {proc.stdout.read()}")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def test_readme_curl_flow_runs_as_written(live_server, tmp_path, sample_image_path, env):
    """The 'Submit a job' block, line by line: the submit's id feeds the other lines."""
    import json
    import time

    block = next(b for b in blocks(ROOT / "README.md", "bash") if "curl -s -X POST" in b)
    commands = [c.split(" #")[0].strip() for c in block.replace("\\\n", " ").splitlines()]
    commands = [c.replace("http://127.0.0.1:8000", live_server).replace("photo.jpg", str(sample_image_path))
                for c in commands if c.startswith("curl")]

    def sh(cmd: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, cwd=tmp_path,
                              timeout=120, env=env)

    submitted = sh(commands[0])
    job = json.loads(submitted.stdout)
    assert job["status"] == "pending" and job["id"].startswith("job_")
    deadline = time.time() + 120
    while json.loads(sh(commands[1].replace("JOB_ID", job["id"])).stdout)["status"] != "succeeded":
        assert time.time() < deadline, "the job did not finish"
        time.sleep(0.5)
    result = json.loads(sh(commands[2].replace("JOB_ID", job["id"])).stdout)
    assert [r["task"] for r in result["records"][0]["results"]] == ["<CAPTION>", "<OD>"]
    assert sh(commands[3].replace("JOB_ID", job["id"])).returncode == 0
    assert (tmp_path / "annotated.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    events = sh(commands[4].replace("JOB_ID", job["id"]))
    assert "succeeded" in events.stdout


def test_readme_infer_line_runs_as_written(live_server, sample_image_path, env):
    import json

    text = (ROOT / "README.md").read_text().replace("\n", " ")
    cmd = re.search(r"`(curl --form-string [^`]*/v1/infer)`", text).group(1)
    cmd = cmd.replace("http://127.0.0.1:8000", live_server).replace("photo.jpg", str(sample_image_path))
    out = subprocess.run(["bash", "-c", cmd + " -s"], capture_output=True, text=True, timeout=120, env=env)
    assert json.loads(out.stdout)["task"] == "<OD>"
