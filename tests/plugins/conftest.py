"""A throwaway Python environment layered on this one, for tests that pip-install plugins.

`plugin_env` is a fresh venv whose site-packages also sees this interpreter's site-packages
(through a .pth file), so uffizi and its dependencies are importable without reinstalling,
while everything pip installs goes into the throwaway venv and never into the shared one.
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

# Runs `uffizi plugins ...` (only the plugins commands, so other command groups cannot break it).
CLI = (
    "import typer; from uffizi.cli import plugins_cmd; app = typer.Typer(); "
    "app.callback()(lambda: None); plugins_cmd.install(app); app()"
)


@dataclass
class PluginEnv:
    python: Path
    env: dict[str, str]
    cwd: Path

    def run(self, *args: str, check: bool = True, timeout: float = 240) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [str(self.python), *args], cwd=self.cwd, env=self.env, capture_output=True, text=True,
            timeout=timeout,
        )
        if check and done.returncode != 0:
            pytest.fail(f"{' '.join(args)} exited {done.returncode}\n{done.stdout}\n{done.stderr}")
        return done

    def uffizi(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run("-c", CLI, *args, check=check)

    def pip_install(self, *args: str) -> subprocess.CompletedProcess:
        # no network needed: setuptools and uffizi come from the parent environment
        return self.run("-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", *args)


@pytest.fixture
def plugin_env(tmp_path: Path) -> PluginEnv:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    parents = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (Path(purelib) / "_uffizi_parent_env.pth").write_text(
        "import site; " + "; ".join(f"site.addsitedir({p!r})" for p in parents) + "\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UFFIZI_", "PYTHON", "PIP_"))}
    env.update(UFFIZI_HOME=str(tmp_path / "home"), PYTHONDONTWRITEBYTECODE="1")
    work = tmp_path / "work"
    work.mkdir()
    return PluginEnv(python=python, env=env, cwd=work)
