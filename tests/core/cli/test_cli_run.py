"""`uffizi run`, `tasks`, `pipelines` as a user runs them: a subprocess, files on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from PIL import Image
from uffizi.tasks import BUILTIN_TASKS


def uffizi(*args: str, home: Path, check: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "UFFIZI_HOME": str(home), "UFFIZI_LOAD_PLUGINS": ""}
    proc = subprocess.run([sys.executable, "-c", "from uffizi.cli import main; main()", *args],
                          capture_output=True, text=True, env=env, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("home")


def test_make_tiny_then_run_writes_json_and_an_annotated_png(tmp_path, home, sample_image_path):
    model = tmp_path / "T"
    made = uffizi("model", "make-tiny", str(model), home=home, check=True)
    assert "meaningless" in (made.stdout + made.stderr).lower()
    out = tmp_path / "o"
    run = uffizi("run", "core/florence@v1", str(sample_image_path), "--task", "<OD>",
                 "--task", "caption", "--model", str(model), "--out", str(out), home=home)
    assert run.returncode == 0, run.stderr
    assert "random weights" in run.stderr
    doc = json.loads((out / "result.json").read_text())
    assert doc["pipeline"] == "core/florence@v1"
    (record,) = doc["records"]
    assert [r["task"] for r in record["results"]] == ["<OD>", "<CAPTION>"]
    png = out / f"{Path(sample_image_path).stem}.png"
    with Image.open(png) as im, Image.open(sample_image_path) as src:
        assert im.size == src.size


def test_tasks_lists_all_fifteen(home):
    rows = json.loads(uffizi("tasks", "--json", home=home, check=True).stdout)
    assert [r["token"] for r in rows] == [t.token for t in BUILTIN_TASKS]
    assert "<REGION_TO_OCR>" in {r["token"] for r in rows}


def test_pipelines_shows_core_florence_with_its_options_schema(home):
    rows = json.loads(uffizi("pipelines", "--json", home=home, check=True).stdout)
    core = next(r for r in rows if r["id"] == "core/florence@v1")
    assert "tasks" in core["options_schema"]["properties"]


def _bomb_png(path: Path) -> None:
    """A valid tiny PNG whose header claims 60000 x 60000 pixels."""
    Image.new("RGB", (8, 8), "red").save(path)
    data = bytearray(path.read_bytes())
    ihdr = 8 + 8  # signature, length + type
    data[ihdr:ihdr + 8] = (60000).to_bytes(4, "big") + (60000).to_bytes(4, "big")
    crc = zlib.crc32(bytes(data[12:ihdr + 13])) & 0xFFFFFFFF
    data[ihdr + 13:ihdr + 17] = crc.to_bytes(4, "big")
    path.write_bytes(bytes(data))


def _bad_inputs(tmp: Path, photo: Path) -> dict[str, tuple[list[str], str]]:
    text = tmp / "notes.jpg"
    text.write_text("this is not a picture")
    truncated = tmp / "cut.png"
    truncated.write_bytes(photo.read_bytes()[: photo.stat().st_size // 3])
    bomb = tmp / "bomb.png"
    _bomb_png(bomb)
    empty_model = tmp / "empty-model"
    empty_model.mkdir()
    p = str(photo)
    return {
        "not an image": (["core/florence@v1", str(text)], "unsupported_media"),
        "truncated image": (["core/florence@v1", str(truncated)], "corrupt_media"),
        "decompression bomb": (["core/florence@v1", str(bomb)], "media_too_large"),
        "region outside": (["core/florence@v1", p, "--task", "<REGION_TO_CATEGORY>",
                            "--region", "5000,5000,6000,6000"], "invalid_region"),
        "text missing": (["core/florence@v1", p, "--task", "<CAPTION_TO_PHRASE_GROUNDING>"],
                         "missing_task_input"),
        "unknown task": (["core/florence@v1", p, "--task", "<SEE_EVERYTHING>"], "unknown_task"),
        "unknown pipeline": (["nope/nothing@v3", p], "unknown_pipeline"),
        "unreadable model": (["core/florence@v1", p, "--model", str(empty_model)],
                             "model_load_failed"),
        "options not JSON": (["core/florence@v1", p, "--options", "{tasks: [OD]}"], "invalid_options"),
        "device not here": (["core/florence@v1", p, "--device", "cuda:63"], "model_load_failed"),
    }


@pytest.mark.parametrize("case", ["not an image", "truncated image", "decompression bomb",
                                  "region outside", "text missing", "unknown task",
                                  "unknown pipeline", "unreadable model", "options not JSON",
                                  "device not here"])
def test_bad_input_gets_a_stable_code_and_a_message(case, tmp_path, home, tiny_model_dir,
                                                    sample_image_path):
    args, code = _bad_inputs(tmp_path, Path(sample_image_path))[case]
    if "--model" not in args:
        args = [*args, "--model", str(tiny_model_dir)]
    proc = uffizi("run", *args, "--out", str(tmp_path / "o"), home=home)
    assert proc.returncode == 2, proc.stderr
    line = next(ln for ln in proc.stderr.splitlines() if ln.startswith("error["))
    assert line.startswith(f"error[{code}]: "), line
    assert len(line) > 40 and "Traceback" not in proc.stderr


@pytest.mark.parametrize("args", [["run", "core/florence@v1", "{tmp}/missing.png"], ["run"],
                                  ["no-such-command"], ["plugins", "new", "Bad-Name"],
                                  ["bench", "engine", "--batch-sizes", "x"]])
def test_usage_errors_print_one_message_not_a_traceback(args, tmp_path, home):
    proc = uffizi(*[a.format(tmp=tmp_path) for a in args], home=home)
    assert proc.returncode == 2, proc.stderr
    assert "Error:" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_a_bad_setting_in_the_environment_is_named_not_a_traceback(home, monkeypatch):
    monkeypatch.setenv("UFFIZI_MAX_BATCH_SIZE", "lots")
    proc = uffizi("tasks", home=home)
    assert proc.returncode == 2, proc.stderr
    assert "error[invalid_settings]: " in proc.stderr and "UFFIZI_MAX_BATCH_SIZE" in proc.stderr
    assert "Traceback" not in proc.stderr
