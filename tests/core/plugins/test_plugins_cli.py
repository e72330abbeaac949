"""`uffizi plugins list | new` through the Typer app (`install` runs pip: see
tests/plugins/test_plugin_template.py, which runs it in a throwaway environment)."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner
from uffizi.cli import plugins_cmd


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """uffizi"""

    plugins_cmd.install(app)
    return app


runner = CliRunner()


def test_list_json_reports_every_plugin(cli, make_dist, sources, fresh_platform):
    make_dist("good", sources.GOOD, version="3.1.4")
    make_dist("noimport", sources.BROKEN_IMPORT)
    make_dist("raises", sources.RAISES)

    result = runner.invoke(cli, ["plugins", "list", "--json"])
    assert result.exit_code == 0, result.output
    reports = {r["name"]: r for r in json.loads(result.stdout)}
    assert reports["good"] == {
        "name": "good", "module": reports["good"]["module"], "version": "3.1.4",
        "dist": "uffizi-test-good", "hooks": ["register_pipelines"], "status": "ok",
        "error": None, "builtin": False, "warnings": [],
    }
    assert reports["noimport"]["status"] == "error"
    assert "import failed" in reports["noimport"]["error"]
    assert reports["raises"]["status"] == "error"
    assert "boom in register_pipelines" in reports["raises"]["error"]
    assert reports["uffizi.builtin.engine_default"]["builtin"] is True


def test_list_json_honours_the_allow_list(cli, make_dist, sources, fresh_platform, monkeypatch):
    make_dist("good", sources.GOOD)
    monkeypatch.setenv("UFFIZI_LOAD_PLUGINS", "")
    result = runner.invoke(cli, ["plugins", "list", "--json"])
    reports = {r["name"]: r for r in json.loads(result.stdout)}
    assert reports["good"]["status"] == "disabled"


def test_list_table_shows_names_status_and_errors(cli, make_dist, sources, fresh_platform):
    make_dist("good", sources.GOOD)
    make_dist("typo", sources.UNKNOWN_HOOK)
    for args in (["plugins", "list"], ["plugins"]):
        result = runner.invoke(cli, args, env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        assert "good" in result.output and "register_pipelines" in result.output
        assert "typo" in result.output and "unknown hook" in result.output


def test_new_renders_the_template(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, ["plugins", "new", "acme"])
    assert result.exit_code == 0, result.output
    root = tmp_path / "acme"
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == [
        ".gitignore", "README.md", "pyproject.toml",
        "src/uffizi_acme/__init__.py", "src/uffizi_acme/pipeline.py", "tests/test_plugin.py",
    ]
    pyproject = (root / "pyproject.toml").read_text()
    assert 'name = "uffizi-acme"' in pyproject
    assert '[project.entry-points.uffizi]\nacme = "uffizi_acme"' in pyproject
    assert 'name = "acme/hello"' in (root / "src/uffizi_acme/pipeline.py").read_text()
    assert "{{" not in "".join((root / f).read_text() for f in files)
    compile((root / "src/uffizi_acme/__init__.py").read_text(), "__init__.py", "exec")
    assert "pip install -e acme" in result.output


def test_new_with_dir_and_vertical(cli, tmp_path):
    dest = tmp_path / "elsewhere"
    dest.mkdir()  # an empty folder is fine
    result = runner.invoke(cli, ["plugins", "new", "road_qc", "--dir", str(dest), "--vertical", "transport"])
    assert result.exit_code == 0, result.output
    assert 'name = "transport/hello"' in (dest / "src/uffizi_road_qc/pipeline.py").read_text()
    assert 'road_qc = "uffizi_road_qc"' in (dest / "pyproject.toml").read_text()


@pytest.mark.parametrize("name", ["Acme", "acme-tools", "1acme", "class", "a b", ""])
def test_new_refuses_bad_names(cli, tmp_path, name):
    result = runner.invoke(cli, ["plugins", "new", name, "--dir", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert not (tmp_path / "x").exists()


def test_new_refuses_a_non_empty_folder(cli, tmp_path):
    (tmp_path / "acme").mkdir()
    (tmp_path / "acme" / "keep.txt").write_text("mine")
    result = runner.invoke(cli, ["plugins", "new", "acme", "--dir", str(tmp_path / "acme")])
    assert result.exit_code == 2
    assert "not an empty folder" in result.output
    assert sorted(p.name for p in (tmp_path / "acme").iterdir()) == ["keep.txt"]


def test_dist_name_of_an_install_target(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "uffizi-acme"\nversion = "1"\n')
    assert plugins_cmd._dist_name(str(tmp_path)) == "uffizi-acme"
    assert plugins_cmd._dist_name("uffizi-medical>=0.2") == "uffizi-medical"
    assert plugins_cmd._dist_name("uffizi_medical[dicom]") == "uffizi_medical"
