"""The model doctor passes a healthy checkpoint and names what is wrong with a broken one."""

from __future__ import annotations

import json
import shutil

import pytest
from uffizi.errors import RemoteCodeModel
from uffizi.model.doctor import diagnose, diagnose_folder


@pytest.fixture
def copy(tiny_model_dir, tmp_path):
    return shutil.copytree(tiny_model_dir, tmp_path / "model")


def test_healthy_tiny_checkpoint(tiny_model_dir):
    report = diagnose_folder(tiny_model_dir)
    assert report.ok, report.problems
    assert report.random_weights and any("meaningless" in w for w in report.warnings)
    arch = report.architecture
    assert arch["vision_embed_dim"] == [16, 32, 64, 128] and arch["vision_depths"] == [1, 1, 1, 1]
    assert (arch["d_model"], arch["encoder_layers"], arch["decoder_layers"]) == (64, 1, 1)
    p = report.parameters
    assert p["vision"] + p["projector"] + p["language"] == p["total"] and 0.9e6 < p["total"] < 1.2e6
    assert report.weights["dtypes"] == {"F32": report.weights["values"]} and not report.weights["missing"]
    tok = report.tokenizer
    assert tok["loc_tokens_ok"] == 1000 and tok["task_markers_missing"] == []
    assert tok["image_token_id"] == arch["image_token_id"]
    assert report.processor["image_seq_length"] == report.processor["expected_image_seq_length"] == 577
    assert len(report.processor["post_processor_keys"]) == 8


def _drop_loc_tokens(folder, prefix="<loc_9"):
    tj = json.loads((folder / "tokenizer.json").read_text())
    tj["added_tokens"] = [t for t in tj["added_tokens"] if not t["content"].startswith(prefix)]
    (folder / "tokenizer.json").write_text(json.dumps(tj))
    tc = json.loads((folder / "tokenizer_config.json").read_text())
    tc["extra_special_tokens"] = [t for t in tc["extra_special_tokens"] if not t.startswith(prefix)]
    (folder / "tokenizer_config.json").write_text(json.dumps(tc))


def test_tokenizer_without_some_location_tokens(copy):
    _drop_loc_tokens(copy)
    report = diagnose_folder(copy)
    assert not report.ok
    assert report.tokenizer["loc_tokens_ok"] == 1000 - 111  # <loc_9>, <loc_90..99>, <loc_900..999>
    assert any("location tokens" in p and "<loc_9>" in p for p in report.problems)


def test_deleted_weights_file(copy):
    (copy / "model.safetensors").unlink()
    report = diagnose_folder(copy)
    assert "missing file: model.safetensors (weights)" in report.problems
    assert report.tokenizer["loc_tokens_ok"] == 1000, "the other checks still run"


def test_half_copied_weights_and_a_broken_processor_config_are_problems(copy):
    weights = copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:4])  # a copy cut short
    (copy / "processor_config.json").write_text("{")
    report = diagnose_folder(copy)
    assert any("model.safetensors is damaged" in p for p in report.problems), report.problems
    assert any("processor_config.json is not a JSON object" in p for p in report.problems)
    assert report.tokenizer["loc_tokens_ok"] == 1000, "the other checks still run"


def test_weights_that_do_not_fit_the_config(copy):
    config = json.loads((copy / "config.json").read_text())
    config["text_config"]["d_model"] = 96
    config["vision_config"]["projection_dim"] = 96
    (copy / "config.json").write_text(json.dumps(config))
    report = diagnose_folder(copy)
    assert any("wrong shape" in p for p in report.problems)


def test_config_and_tokenizer_disagree_on_the_image_token(copy):
    config = json.loads((copy / "config.json").read_text())
    config["image_token_id"] = 5
    (copy / "config.json").write_text(json.dumps(config))
    report = diagnose_folder(copy)
    assert any("config.image_token_id is 5" in p for p in report.problems)


def test_post_processor_config_without_ocr(copy):
    pc = json.loads((copy / "processor_config.json").read_text())
    del pc["post_processor_config"]["ocr"]
    (copy / "processor_config.json").write_text(json.dumps(pc))
    report = diagnose_folder(copy)
    assert any("post_processor_config lacks ocr" in p for p in report.problems)


def test_image_seq_length_that_does_not_match_the_image_size(copy):
    pc = json.loads((copy / "processor_config.json").read_text())
    pc["image_processor"]["size"] = {"height": 384, "width": 384}
    (copy / "processor_config.json").write_text(json.dumps(pc))
    report = diagnose_folder(copy)
    assert any("image_seq_length is 577 but a 384x384 image gives 145" in p for p in report.problems)


def test_remote_code_model_is_refused_by_name(uffizi_settings):
    with pytest.raises(RemoteCodeModel, match="florence-community/Florence-2-large"):
        diagnose("microsoft/Florence-2-large", uffizi_settings)


def test_hub_checkpoint_is_diagnosed_from_its_small_files_and_weight_headers(
        tiny_model_dir, tmp_path, uffizi_settings, monkeypatch):
    """Without downloading weights: configs and tokenizer, plus the safetensors headers (faked
    here from the tiny checkpoint's own header, as the hub serves them)."""
    from types import SimpleNamespace

    import huggingface_hub
    from uffizi.model import doctor

    small = shutil.copytree(tiny_model_dir, tmp_path / "snapshot", ignore=shutil.ignore_patterns("*.safetensors"))
    header = doctor._stored_tensors(tiny_model_dir)
    tensors = {n: SimpleNamespace(dtype=d, shape=s) for n, (d, s) in header.items()}
    tensors.pop("model.vision_tower.convs.0.conv.weight")
    monkeypatch.setattr(doctor, "_hub_metadata", lambda repo, rev, settings: small)
    monkeypatch.setattr(huggingface_hub, "get_safetensors_metadata", lambda repo, revision=None: SimpleNamespace(
        files_metadata={"model.safetensors": SimpleNamespace(tensors=tensors)}))
    report = diagnose("acme/florence-shapes", uffizi_settings)
    assert not any("missing file" in p for p in report.problems)
    assert report.weights["missing"] == ["model.vision_tower.convs.0.conv.weight"]
    assert report.problems == ["1 weight tensors missing (e.g. model.vision_tower.convs.0.conv.weight)"]
