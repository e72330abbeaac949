"""The local model cache: import, list, verify (tampering caught), remove, pull."""

from __future__ import annotations

import json
import shutil

import pytest
from uffizi.errors import InvalidInput, ModelLoadError, ModelNotFound, RemoteCodeModel
from uffizi.model import cache
from uffizi.model.sources import resolve_model


def test_import_copies_records_checksums_and_resolves_by_name(tiny_model_dir, uffizi_settings):
    entry = cache.import_folder(tiny_model_dir, uffizi_settings, name="shapes-v1")
    folder = entry.folder(uffizi_settings)
    assert folder.parent == cache.cache_dir(uffizi_settings) and folder != tiny_model_dir
    assert set(entry.files) == {p.name for p in tiny_model_dir.iterdir()}
    assert entry.files["model.safetensors"] == cache.sha256_file(tiny_model_dir / "model.safetensors")
    index = json.loads((cache.cache_dir(uffizi_settings) / "index.json").read_text())
    assert index["models"]["shapes-v1"]["files"] == entry.files
    assert [e.name for e in cache.list_models(uffizi_settings)] == ["shapes-v1"]
    resolved = resolve_model("shapes-v1", uffizi_settings)
    assert resolved.kind == "cache" and resolved.path_or_id == str(folder) and resolved.local


def test_verify_catches_a_changed_and_a_missing_file(tiny_model_dir, uffizi_settings):
    entry = cache.import_folder(tiny_model_dir, uffizi_settings, name="m")
    assert cache.verify("m", uffizi_settings).ok
    folder = entry.folder(uffizi_settings)
    weights = bytearray((folder / "model.safetensors").read_bytes())
    weights[-1] ^= 0xFF  # one flipped byte in the last tensor
    (folder / "model.safetensors").write_bytes(bytes(weights))
    (folder / "generation_config.json").unlink()
    (folder / "notes.txt").write_text("added later")
    report = cache.verify("m", uffizi_settings)
    assert not report.ok
    assert report.changed == ["model.safetensors"]
    assert report.missing == ["generation_config.json"]
    assert report.extra == ["notes.txt"]


def test_linked_import_references_the_folder_in_place(tiny_model_dir, tmp_path, uffizi_settings):
    source = shutil.copytree(tiny_model_dir, tmp_path / "elsewhere")
    entry = cache.import_folder(source, uffizi_settings, name="linked", link=True)
    assert entry.linked and entry.folder(uffizi_settings) == source.resolve()
    (source / "config.json").write_text((source / "config.json").read_text().replace("64", "65", 1))
    assert cache.verify("linked", uffizi_settings).changed == ["config.json"]
    cache.remove("linked", uffizi_settings)
    assert (source / "config.json").exists(), "removing a linked model keeps its files"
    assert cache.get_entry("linked", uffizi_settings) is None


def test_remove_deletes_a_copied_model(tiny_model_dir, uffizi_settings):
    folder = cache.import_folder(tiny_model_dir, uffizi_settings, name="gone").folder(uffizi_settings)
    cache.remove("gone", uffizi_settings)
    assert not folder.exists() and cache.list_models(uffizi_settings) == []
    with pytest.raises(ModelNotFound):
        cache.verify("gone", uffizi_settings)


def test_import_refuses_incomplete_folders_and_preset_names(tiny_model_dir, tmp_path, uffizi_settings):
    broken = shutil.copytree(tiny_model_dir, tmp_path / "broken")
    (broken / "processor_config.json").unlink()
    with pytest.raises(ModelLoadError, match=r"missing: processor_config.json"):
        cache.import_folder(broken, uffizi_settings)
    with pytest.raises(InvalidInput, match="presets"):
        cache.import_folder(tiny_model_dir, uffizi_settings, name="tiny")
    assert cache.list_models(uffizi_settings) == []


def test_a_moved_cache_still_resolves(tiny_model_dir, tmp_path, uffizi_settings):
    """Air-gapped use: the cache is carried to another machine (another home folder)."""
    cache.import_folder(tiny_model_dir, uffizi_settings, name="carried")
    new_home = tmp_path / "other-machine"
    shutil.copytree(uffizi_settings.home, new_home)
    moved = uffizi_settings.model_copy(update={"home": new_home})
    assert cache.verify("carried", moved).ok
    assert resolve_model("carried", moved).path_or_id.startswith(str(new_home))


def test_pull_records_the_commit_and_checksums(tiny_model_dir, uffizi_settings, monkeypatch):
    """The hub cannot be reached here: a fake snapshot download stands in for huggingface_hub."""
    asked = {}

    def fake_snapshot(repo_id, revision, local_dir):
        asked.update(repo_id=repo_id, revision=revision)
        shutil.copytree(tiny_model_dir, local_dir, dirs_exist_ok=True)
        (local_dir / ".cache" / "huggingface").mkdir(parents=True)
        (local_dir / ".cache" / "huggingface" / "x.metadata").write_text("hub bookkeeping")
        return "0123456789abcdef"

    monkeypatch.setattr(cache, "_hub_snapshot", fake_snapshot)
    entry = cache.pull("acme/florence-shapes", uffizi_settings, revision="v1")
    assert asked == {"repo_id": "acme/florence-shapes", "revision": "v1"}
    assert (entry.repo_id, entry.revision, entry.commit, entry.source) == (
        "acme/florence-shapes", "v1", "0123456789abcdef", "hub")
    assert not any(rel.startswith(".cache") for rel in entry.files)
    assert cache.verify("acme/florence-shapes", uffizi_settings).ok
    resolved = resolve_model("acme/florence-shapes", uffizi_settings)
    assert resolved.kind == "cache" and resolved.revision == "0123456789abcdef"


def test_pull_offline_says_what_to_do(uffizi_settings, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFound, match="offline mode is on"):
        cache.pull("florence-community/Florence-2-base", uffizi_settings)


def test_pull_network_failure_is_a_typed_error_and_leaves_nothing(uffizi_settings, monkeypatch):
    def unreachable(repo_id, revision, local_dir):
        (local_dir / "config.json").write_text("{}")
        raise ConnectionError("connection refused")

    monkeypatch.setattr(cache, "_hub_snapshot", unreachable)
    with pytest.raises(ModelLoadError, match="cannot download 'florence-community/Florence-2-base'"):
        cache.pull("florence-community/Florence-2-base", uffizi_settings)
    assert [p.name for p in cache.cache_dir(uffizi_settings).iterdir() if p.is_dir()] == []


def test_pull_refuses_remote_code_checkpoints(uffizi_settings):
    with pytest.raises(RemoteCodeModel, match="florence-community/Florence-2-base"):
        cache.pull("microsoft/Florence-2-base", uffizi_settings)


def test_pull_through_huggingface_hub_to_an_unreachable_endpoint(uffizi_settings, monkeypatch):
    """The real download code, pointed at a closed local port: a clear error, fast."""
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(ModelLoadError, match="Check the network or HF_ENDPOINT") as err:
        cache.pull("florence-community/Florence-2-base", uffizi_settings)
    assert not isinstance(err.value, ModelNotFound)
