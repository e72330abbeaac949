"""resolve_model: presets built once and cached, folders checked, hub ids and their errors."""

from __future__ import annotations

import json
import shutil

import pytest
from uffizi.errors import ModelLoadError, ModelNotFound, RemoteCodeModel
from uffizi.model import tiny
from uffizi.model.sources import ensure_preset, resolve_model


@pytest.fixture
def fake_builds(monkeypatch, tiny_model_dir):
    """Preset builds copy the session's tiny checkpoint (the real build is tested elsewhere)
    and are counted."""
    calls = []

    def build(out_dir, preset="tiny", seed=0):
        calls.append(preset)
        shutil.copytree(tiny_model_dir, out_dir, dirs_exist_ok=True)
        marker = json.loads((out_dir / tiny.MARKER).read_text())
        (out_dir / tiny.MARKER).write_text(json.dumps({**marker, "preset": preset}))
        return out_dir

    monkeypatch.setattr(tiny, "build_checkpoint", build)
    return calls


def test_preset_is_built_on_first_use_then_reused(uffizi_settings, fake_builds):
    first = resolve_model("tiny", uffizi_settings)
    assert first.local and first.preset == "tiny" and first.random_weights and first.kind == "preset"
    assert first.path_or_id == str(uffizi_settings.models_dir / "presets" / "tiny")
    second = resolve_model("tiny", uffizi_settings)
    assert second == first and fake_builds == ["tiny"]
    leftovers = [p.name for p in (uffizi_settings.models_dir / "presets").iterdir()
                 if p.name.startswith(".tiny-build")]
    assert leftovers == []


def test_preset_from_an_older_builder_is_rebuilt(uffizi_settings, fake_builds):
    folder = ensure_preset("tiny", uffizi_settings)
    marker = json.loads((folder / tiny.MARKER).read_text())
    (folder / tiny.MARKER).write_text(json.dumps({**marker, "builder": tiny.BUILDER_VERSION - 1}))
    ensure_preset("tiny", uffizi_settings)
    assert fake_builds == ["tiny", "tiny"]


def test_failed_build_leaves_no_half_folder(uffizi_settings, monkeypatch):
    def explode(out_dir, preset="tiny", seed=0):
        (out_dir / "config.json").write_text("{}")
        raise RuntimeError("disk full")

    monkeypatch.setattr(tiny, "build_checkpoint", explode)
    with pytest.raises(ModelLoadError, match="disk full"):
        resolve_model("small", uffizi_settings)
    assert not (uffizi_settings.models_dir / "presets" / "small").exists()
    assert not [p for p in (uffizi_settings.models_dir / "presets").iterdir() if p.is_dir()]


def test_preset_resolves_to_a_loadable_checkpoint(uffizi_settings, fake_builds):
    from transformers import AutoProcessor

    resolved = resolve_model("tiny", uffizi_settings)
    assert AutoProcessor.from_pretrained(resolved.path_or_id).image_processor.image_seq_length == 577


def test_local_folder(tiny_model_dir, uffizi_settings):
    resolved = resolve_model(str(tiny_model_dir), uffizi_settings)
    assert resolved.local and resolved.kind == "folder" and resolved.preset is None
    assert resolved.random_weights, "a make-tiny folder is known to hold random weights"


def test_incomplete_folder_lists_exactly_what_is_missing(tiny_model_dir, tmp_path, uffizi_settings):
    broken = shutil.copytree(tiny_model_dir, tmp_path / "broken")
    (broken / "model.safetensors").unlink()
    (broken / "tokenizer.json").unlink()
    with pytest.raises(ModelLoadError) as err:
        resolve_model(str(broken), uffizi_settings)
    assert err.value.details["missing"] == ["model.safetensors (weights)", "tokenizer.json (tokenizer)"]
    assert "model.safetensors" in str(err.value) and "config.json" not in err.value.details["missing"]


def test_missing_folder(uffizi_settings, tmp_path):
    with pytest.raises(ModelNotFound, match="does not exist"):
        resolve_model(str(tmp_path / "nope"), uffizi_settings)


@pytest.mark.parametrize("repo, counterpart", [
    ("microsoft/Florence-2-large", "florence-community/Florence-2-large"),
    ("microsoft/Florence-2-base-ft", "florence-community/Florence-2-base-ft"),
])
def test_microsoft_ids_name_their_native_conversion(repo, counterpart, uffizi_settings):
    with pytest.raises(RemoteCodeModel) as err:
        resolve_model(repo, uffizi_settings)
    assert counterpart in str(err.value) and err.value.code == "model_needs_remote_code"


def test_remote_code_folder_is_refused_with_its_counterpart(tiny_model_dir, tmp_path, uffizi_settings):
    folder = shutil.copytree(tiny_model_dir, tmp_path / "Florence-2-large")
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_florence2.Florence2ForConditionalGeneration"}
    config["_name_or_path"] = "microsoft/Florence-2-large"
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "modeling_florence2.py").write_text("# remote code\n")
    with pytest.raises(RemoteCodeModel, match="florence-community/Florence-2-large"):
        resolve_model(str(folder), uffizi_settings)


def test_hub_id_online_is_left_to_the_loader(uffizi_settings):
    resolved = resolve_model("florence-community/Florence-2-base", uffizi_settings, revision="main")
    assert (resolved.path_or_id, resolved.revision, resolved.local) == (
        "florence-community/Florence-2-base", "main", False)


def test_hub_id_offline_and_not_cached_says_how_to_get_it(uffizi_settings, monkeypatch, tmp_path):
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))
    settings = uffizi_settings.model_copy(update={"offline": True})
    with pytest.raises(ModelNotFound, match="uffizi model pull florence-community/Florence-2-base"):
        resolve_model("florence-community/Florence-2-base", settings)


def test_nonsense_source(uffizi_settings):
    with pytest.raises(ModelNotFound, match="not a preset"):
        resolve_model("not a model!", uffizi_settings)


def test_unknown_preset_name_lists_presets():
    from uffizi.model.presets import get_preset

    with pytest.raises(ModelNotFound, match="tiny, small, base-random, large-random"):
        get_preset("huge")


def test_sources_module_imports_no_torch():
    import subprocess
    import sys

    code = "import sys, uffizi.model.sources, uffizi.model.cache; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


_RACE = """
import json, sys, time
from pathlib import Path
from uffizi.model import tiny
from uffizi.model.sources import ensure_preset
from uffizi.settings import Settings

def slow_build(out_dir, preset="tiny", seed=0):
    with open(sys.argv[2], "a") as log:
        log.write("build\\n")
    for name in ("config.json", "model.safetensors", "tokenizer.json", "processor_config.json"):
        (out_dir / name).write_text("{}")
        time.sleep(0.2)
    (out_dir / tiny.MARKER).write_text(json.dumps(
        {"preset": preset, "builder": tiny.BUILDER_VERSION, "random_weights": True}))
    return out_dir

tiny.build_checkpoint = slow_build
print(ensure_preset("tiny", Settings(home=Path(sys.argv[1]))))
"""


def test_two_processes_build_a_preset_once(tmp_path):
    import subprocess
    import sys

    log = tmp_path / "builds.log"
    procs = [subprocess.Popen([sys.executable, "-c", _RACE, str(tmp_path / "home"), str(log)],
                              stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert outs[0] == outs[1] == str(tmp_path / "home" / "models" / "presets" / "tiny")
    assert log.read_text().count("build") == 1
    assert sorted(p.name for p in (tmp_path / "home" / "models" / "presets" / "tiny").iterdir()) == [
        "config.json", "model.safetensors", "processor_config.json", "tokenizer.json", "uffizi.json"]
