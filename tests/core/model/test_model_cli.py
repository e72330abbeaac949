"""`uffizi model ...` as a user runs it: output, JSON and exit status."""

from __future__ import annotations

import json
import shutil

import pytest
import typer
from typer.testing import CliRunner
from uffizi.cli import model_cmd
from uffizi.errors import InvalidInput, RemoteCodeModel


@pytest.fixture
def run(uffizi_settings):
    app = typer.Typer()
    model_cmd.install(app)

    @app.callback()
    def _root() -> None:  # keeps `model` a sub-command even when it is the only group
        pass

    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["model", *map(str, args)])


def test_make_tiny_builds_and_says_the_weights_are_random(run, tmp_path):
    result = run("make-tiny", tmp_path / "m", "--seed", 3)
    assert result.exit_code == 0, result.output
    assert "outputs are meaningless" in result.output and "1.04M parameters" in result.output
    assert json.loads((tmp_path / "m" / "uffizi.json").read_text())["seed"] == 3
    again = run("make-tiny", tmp_path / "m")
    assert isinstance(again.exception, InvalidInput) and "not empty" in str(again.exception)


def test_info_json_of_a_healthy_and_of_a_broken_model(run, tiny_model_dir, tmp_path):
    ok = run("info", tiny_model_dir, "--json")
    assert ok.exit_code == 0, ok.output
    report = json.loads(ok.output)
    assert report["ok"] and report["parameters"]["total"] > 0 and report["tokenizer"]["loc_tokens_ok"] == 1000
    broken = shutil.copytree(tiny_model_dir, tmp_path / "broken")
    (broken / "model.safetensors").unlink()
    bad = run("info", broken)
    assert bad.exit_code == 1
    assert "missing file: model.safetensors" in bad.output and "problem(s) found" in bad.output


def test_info_human_output_shows_the_sections(run, tiny_model_dir):
    result = run("info", tiny_model_dir)
    assert result.exit_code == 0
    for section in ("architecture", "parameters", "stored weights", "tokenizer", "processor",
                    "no problems found"):
        assert section in result.output


def test_info_on_a_remote_code_checkpoint(run):
    result = run("info", "microsoft/Florence-2-large")
    assert isinstance(result.exception, RemoteCodeModel)
    assert "florence-community/Florence-2-large" in result.exception.message


def test_import_list_verify_and_tampering(run, tiny_model_dir, uffizi_settings):
    assert run("list").output.count("is empty") == 1
    imported = run("import", tiny_model_dir, "--name", "shapes")
    assert imported.exit_code == 0 and "UFFIZI_MODEL=shapes" in imported.output
    listed = json.loads(run("list", "--json").output)
    assert [m["name"] for m in listed] == ["shapes"] and listed[0]["files"]["config.json"]
    assert run("verify", "shapes").exit_code == 0
    gen = uffizi_settings.models_dir / "cache" / "shapes" / "generation_config.json"
    gen.write_text(gen.read_text().replace('"num_beams": 1', '"num_beams": 4'))
    failed = run("verify", "shapes")
    assert failed.exit_code == 1
    assert "changed: generation_config.json" in failed.output and "FAILED" in failed.output
