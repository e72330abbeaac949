"""`uffizi jobs` and `uffizi keys` as a user runs them (subprocesses) against a live server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from uffizi.api.auth import list_keys


def uffizi(*args: str, home, **env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "UFFIZI_HOME": str(home), **env}
    return subprocess.run([sys.executable, "-c", "from uffizi.cli import main; main()", *args],
                          capture_output=True, text=True, env=environ, timeout=300)


def test_jobs_commands(service, tmp_path, make_png):
    live = service(runners=1)
    live.wait_ready()
    photo = tmp_path / "photo.png"
    photo.write_bytes(make_png())
    home = live.state.settings.home
    run = uffizi("jobs", "submit", "core/florence", str(photo), "-t", "<CAPTION>", "--wait",
                 "--server", live.url, home=home)
    assert run.returncode == 0, run.stderr
    job = json.loads(run.stdout)
    assert job["status"] == "succeeded" and "100%" in run.stderr
    listed = uffizi("jobs", "list", "--json", home=home, UFFIZI_URL=live.url)
    assert [j["id"] for j in json.loads(listed.stdout)["items"]] == [job["id"]]
    shown = uffizi("jobs", "show", job["id"], "--server", live.url, home=home)
    assert json.loads(shown.stdout)["id"] == job["id"]
    out = tmp_path / "result.png"
    got = uffizi("jobs", "result", job["id"], "--format", "png", "--out", str(out), "--server", live.url, home=home)
    assert got.returncode == 0 and out.read_bytes().startswith(b"\x89PNG")
    doc = uffizi("jobs", "result", job["id"], "--server", live.url, home=home)
    assert json.loads(doc.stdout)["pipeline"] == "core/florence@v1"
    pending = uffizi("jobs", "submit", "test/slow", str(photo), "--options", '{"steps": 500, "delay_s": 0.02}',
                     "--server", live.url, home=home)
    pending_id = json.loads(pending.stdout)["id"]
    canceled = uffizi("jobs", "cancel", pending_id, "--server", live.url, home=home)
    assert canceled.returncode == 0
    waited = uffizi("jobs", "wait", pending_id, "--server", live.url, home=home)
    assert waited.returncode == 1 and json.loads(waited.stdout)["status"] == "canceled"
    bad = uffizi("jobs", "show", "job_nope", "--server", live.url, home=home)
    assert bad.returncode == 2 and "error[job_not_found]" in bad.stderr


def test_keys_commands(service, make_png):
    live = service(runners=0)
    home = live.state.settings.home
    made = uffizi("keys", "create", "--tenant", "acme", "--scopes", "submit,read", "--name", "ci", home=home)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("uffizi_") and "not shown again" in made.stderr
    listed = json.loads(uffizi("keys", "list", "--json", home=home).stdout)
    assert [(k["tenant"], k["name"], k["scopes"]) for k in listed] == [("acme", "ci", ["submit", "read"])]
    assert key.split("_")[2] not in json.dumps(listed)
    time.sleep(1.1)  # the server notices the first key within a second
    with live.client() as anon, live.client(key) as acme:
        assert anon.get("/v1/jobs").status_code == 401
        assert acme.get("/v1/jobs").status_code == 200
        revoked = uffizi("keys", "revoke", listed[0]["id"], home=home)
        assert revoked.returncode == 0
        assert acme.get("/v1/jobs").status_code == 401
    with live.state.db.session() as s:
        assert list_keys(s)[0].revoked_at is not None
    bad = uffizi("keys", "create", "--scopes", "root", home=home)
    assert bad.returncode == 2 and "error[invalid_input]" in bad.stderr
