"""Where a model comes from: `resolve_model(source, settings)` turns what a user wrote into
something `from_pretrained` can load.

A source is, in this order: a preset (`tiny`, `small`, `base-random`, `large-random`: built
on first use into `models_dir/presets/NAME`, once, safely across processes), a local folder,
a name in the local model cache, or a hub id (`florence-community/Florence-2-base`). Remote-code
`microsoft/Florence-2-*` checkpoints are refused with the name of their native conversion.
Nothing is downloaded here; offline mode (`UFFIZI_OFFLINE`, `HF_HUB_OFFLINE`) is respected.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from uffizi.errors import ModelLoadError, ModelNotFound
from uffizi.model import cache
from uffizi.model.layout import check_folder, native_counterpart, remote_code_error
from uffizi.model.presets import PRESETS
from uffizi.settings import Settings, get_settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResolvedModel:
    path_or_id: str  # a local folder, or a hub id
    revision: str | None
    preset: str | None  # the preset name when the source was one
    local: bool  # True: path_or_id is a folder on this machine
    kind: str = "hub"  # preset, folder, cache or hub
    display_name: str = ""
    random_weights: bool = False  # a checkpoint Uffizi built (preset or make-tiny)


def presets_dir(settings: Settings) -> Path:
    return settings.models_dir / "presets"


def _preset_ready(folder: Path, name: str) -> bool:
    from uffizi.model.layout import missing_files
    from uffizi.model.tiny import BUILDER_VERSION, read_marker

    marker = read_marker(folder)
    return bool(marker and marker.get("preset") == name and marker.get("builder") == BUILDER_VERSION
                and not missing_files(folder))


def ensure_preset(name: str, settings: Settings) -> Path:
    """The folder of preset `name`, built on first use (into a temp folder, then renamed in
    place under a file lock, so concurrent processes neither race nor see half a folder)."""
    from filelock import FileLock

    from uffizi.model.tiny import build_checkpoint

    target = presets_dir(settings) / name
    if _preset_ready(target, name):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.parent / f".{name}.lock"), timeout=1800):
        if _preset_ready(target, name):  # another process built it while we waited
            return target
        log.info("building the %r random-weight preset into %s", name, target)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{name}-build-"))
        tmp.chmod(0o755)
        try:
            build_checkpoint(tmp, preset=name, seed=0)
            if target.exists():  # stale (older builder) or damaged
                shutil.rmtree(target)
            os.replace(tmp, target)
        except Exception as exc:
            raise ModelLoadError(f"could not build the {name!r} preset in {str(target)!r}: {exc}") from exc
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _looks_like_path(source: str) -> bool:
    return (source.startswith(("/", ".", "~")) or "\\" in source or source.count("/") > 1
            or Path(source).expanduser().exists())


def _is_uffizi_built(folder: Path) -> bool:
    from uffizi.model.tiny import read_marker

    marker = read_marker(folder)
    return bool(marker and marker.get("random_weights"))


def resolve_model(source: str, settings: Settings | None = None, *,
                  revision: str | None = None) -> ResolvedModel:
    """Resolve a preset, folder, cache name or hub id; raise a typed error saying what to fix."""
    settings = settings or get_settings()
    source = source.strip()
    if not source:
        raise ModelNotFound("no model given; set UFFIZI_MODEL or pass a preset, folder or hub id")

    if source in PRESETS:
        folder = ensure_preset(source, settings)
        return ResolvedModel(str(folder), None, source, True, "preset", source, True)

    if _looks_like_path(source):
        folder = Path(source).expanduser()
        if not folder.exists():
            raise ModelNotFound(f"model folder {source!r} does not exist")
        check_folder(folder, source=source)
        return ResolvedModel(str(folder.resolve()), None, None, True, "folder", source,
                             _is_uffizi_built(folder))

    entry = cache.get_entry(source, settings)
    if entry is not None and (revision is None or revision in (entry.revision, entry.commit)):
        folder = entry.folder(settings)
        if not folder.is_dir():
            raise ModelLoadError(
                f"{source!r} is in the model cache but its folder {str(folder)!r} is gone; "
                f"re-import or re-pull it (`uffizi model verify {source}` shows what is missing)"
            )
        check_folder(folder, source=source)
        return ResolvedModel(str(folder), entry.commit or entry.revision, None, True, "cache", source,
                             _is_uffizi_built(folder))

    if native_counterpart(source):
        raise remote_code_error(source)
    return _resolve_hub_id(source, revision, settings)


def _resolve_hub_id(repo_id: str, revision: str | None, settings: Settings) -> ResolvedModel:
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        raise ModelNotFound(
            f"{repo_id!r} is not a preset ({', '.join(PRESETS)}), an existing folder, a name in "
            "the model cache (`uffizi model list`) or a valid hub id"
        ) from None
    if cache.hub_offline(settings):
        cached = try_to_load_from_cache(repo_id, "config.json", revision=revision)
        if not isinstance(cached, str):
            raise ModelNotFound(
                f"offline mode is on and {repo_id!r} is neither in the Uffizi model cache nor in "
                "the Hugging Face cache. On a connected machine run "
                f"`uffizi model pull {repo_id}` and copy {str(settings.models_dir)!r} here, or "
                "`uffizi model import DIR` a copy of the checkpoint"
            )
    return ResolvedModel(repo_id, revision, None, False, "hub", repo_id, False)
