"""`uffizi plugins new` end to end: render, pip install -e, list, run the new plugin's tests;
and the template ships inside the uffizi wheel, so it works after a plain pip install."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from uffizi.cli.plugins_cmd import template_root

CORE = Path(__file__).resolve().parents[2] / "core"


def _template_files() -> list[str]:
    root = Path(str(template_root()))
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


@pytest.mark.slow
def test_new_install_list_and_test_a_generated_plugin(plugin_env):
    made = plugin_env.uffizi("plugins", "new", "acme")
    assert "created uffizi-acme" in made.stdout

    installed = plugin_env.uffizi("plugins", "install", "--editable", "./acme", check=False)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert "acme" in installed.stdout and "ok" in installed.stdout  # the report, after pip

    listed = json.loads(plugin_env.uffizi("plugins", "list", "--json").stdout)
    (acme,) = [r for r in listed if r["name"] == "acme"]
    assert acme["status"] == "ok", acme
    assert (acme["dist"], acme["version"], acme["module"]) == ("uffizi-acme", "0.1.0", "uffizi_acme")
    assert acme["hooks"] == ["register_pipelines", "register_prompts"]

    found = plugin_env.run("-c", (
        "from uffizi import get_platform; p = get_platform(); "
        "print(p.get_pipeline('acme/hello').id, p.get_prompts('acme/objects').id)"
    ))
    assert found.stdout.split() == ["acme/hello@v1", "acme/objects@v1"]

    if importlib.util.find_spec("uffizi.testing") is None:
        pytest.skip("uffizi.testing (the tiny_engine fixture) is not available yet")
    tests = plugin_env.run("-m", "pytest", "-q", "-p", "no:cacheprovider", "acme/tests", check=False,
                           timeout=280)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "4 passed" in tests.stdout


def test_install_reports_a_package_that_is_no_plugin(plugin_env):
    project = plugin_env.cwd / "notaplugin"
    (project / "src" / "notaplugin").mkdir(parents=True)
    (project / "src" / "notaplugin" / "__init__.py").write_text("")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "notaplugin"\nversion = "0.1"\n'
    )
    done = plugin_env.uffizi("plugins", "install", str(project), check=False)
    assert done.returncode == 1
    assert "no entry point in the group 'uffizi'" in done.stderr


def test_install_passes_pip_failures_through(plugin_env):
    done = plugin_env.uffizi("plugins", "install", str(plugin_env.cwd / "missing"), check=False)
    assert done.returncode != 0
    assert "pip install failed" in done.stderr


def test_template_ships_in_the_wheel_and_renders_from_it(tmp_path):
    src = tmp_path / "core"
    shutil.copytree(CORE, src, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__", "build"))
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(wheels), str(src)],
        check=True, capture_output=True,
    )
    (wheel,) = wheels.glob("uffizi-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    expected = _template_files()
    assert {".gitignore.tmpl", "pyproject.toml.tmpl", "tests/test_plugin.py.tmpl"} <= set(expected)
    for rel in expected:
        assert f"uffizi/templates/plugin/{rel}" in names, f"{rel} is missing from the wheel"

    # Render from the installed (not editable) copy: it shadows the editable one on PYTHONPATH.
    target = tmp_path / "installed"
    zipfile.ZipFile(wheel).extractall(target)
    out = tmp_path / "out"
    code = (
        "import uffizi, pathlib; from uffizi.cli.plugins_cmd import render_plugin; "
        f"assert uffizi.__file__.startswith({str(target)!r}), uffizi.__file__; "
        f"render_plugin('acme', pathlib.Path({str(out)!r}))"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": str(target)})
    assert (out / "tests" / "test_plugin.py").is_file()
    assert (out / "src" / "uffizi_acme" / "__init__.py").is_file()
    assert (out / ".gitignore").is_file()
