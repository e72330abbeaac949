"""The local model cache: checkpoints pulled or imported for air-gapped use, with checksums.

Lives in `settings.models_dir / "cache"`: one folder per model and `index.json`, which maps a
name to its manifest (source, hub id and commit, path, sha256 of every file). `pull` downloads
a hub snapshot on a connected machine; `import_folder` validates and copies (or, with
`link=True`, references) a local folder; `verify` re-hashes the files so a copied cache can be
trusted on the machine it was carried to. `resolve_model` looks names up here.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from uffizi.errors import InvalidInput, ModelLoadError, ModelNotFound
from uffizi.model.layout import check_folder, checkpoint_files, native_counterpart, remote_code_error
from uffizi.settings import Settings


@dataclass
class CacheEntry:
    name: str
    source: str  # "hub" or "import"
    path: str  # relative to the cache folder when copied (so a cache can move); absolute when linked
    files: dict[str, str]  # relative path -> sha256
    repo_id: str | None = None
    revision: str | None = None  # what was asked for
    commit: str | None = None  # what it resolved to
    linked: bool = False  # the folder is referenced in place, not copied
    added_at: str = ""
    size_bytes: int = 0

    def folder(self, settings: Settings) -> Path:
        return Path(self.path) if self.linked else cache_dir(settings) / self.path


@dataclass
class VerifyReport:
    name: str
    path: str
    ok: bool
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def cache_dir(settings: Settings) -> Path:
    return settings.models_dir / "cache"


def _index_path(settings: Settings) -> Path:
    return cache_dir(settings) / "index.json"


def _lock(settings: Settings):
    from filelock import FileLock

    cache_dir(settings).mkdir(parents=True, exist_ok=True)
    return FileLock(str(cache_dir(settings) / ".index.lock"), timeout=120)


def _read_index(settings: Settings) -> dict[str, CacheEntry]:
    try:
        raw = json.loads(_index_path(settings).read_text())
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise ModelLoadError(f"the model cache index {str(_index_path(settings))!r} is corrupt: {exc}") from exc
    return {name: CacheEntry(**entry) for name, entry in raw.get("models", {}).items()}


def _write_index(settings: Settings, entries: dict[str, CacheEntry]) -> None:
    path = _index_path(settings)
    data = {"version": 1, "models": {n: asdict(e) for n, e in sorted(entries.items())}}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".index-", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, path)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def hash_folder(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): sha256_file(p) for p in checkpoint_files(folder)}


def _slug(name: str) -> str:
    return name.replace("/", "--").replace("\\", "--").replace(":", "-")


def list_models(settings: Settings) -> list[CacheEntry]:
    return sorted(_read_index(settings).values(), key=lambda e: e.name)


def get_entry(name: str, settings: Settings) -> CacheEntry | None:
    return _read_index(settings).get(name)


def _check_name(name: str) -> str:
    from uffizi.model.presets import PRESETS

    if not name.strip() or name in PRESETS:
        raise InvalidInput(f"{name!r} cannot name a cached model (presets are named: {', '.join(PRESETS)})")
    return name


def _register(settings: Settings, entry: CacheEntry) -> CacheEntry:
    with _lock(settings):
        entries = _read_index(settings)
        entries[entry.name] = entry
        _write_index(settings, entries)
    return entry


def _manifest(name: str, folder: Path, *, linked: bool = False, **kw: Any) -> CacheEntry:
    files = hash_folder(folder)
    size = sum((folder / rel).stat().st_size for rel in files)
    path = str(folder.resolve()) if linked else folder.name
    return CacheEntry(name=name, path=path, files=files, size_bytes=size, linked=linked,
                      added_at=datetime.now(timezone.utc).isoformat(timespec="seconds"), **kw)


def _staging_dir(settings: Settings, name: str) -> Path:
    """A fresh folder next to the final one, so the last step is an atomic rename."""
    cache_dir(settings).mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=cache_dir(settings), prefix=f".{_slug(name)}-"))
    tmp.chmod(0o755)
    return tmp


def _install(settings: Settings, staged: Path, name: str) -> Path:
    """Move a complete staging folder to the model's place in the cache (replacing an older
    copy) under the index lock; return that place."""
    target = cache_dir(settings) / _slug(name)
    with _lock(settings):
        if target.exists():
            shutil.rmtree(target)
        os.replace(staged, target)
    return target


def import_folder(folder: Path, settings: Settings, *, name: str | None = None,
                  link: bool = False) -> CacheEntry:
    """Validate a checkpoint folder and add it to the cache (copied, or referenced with link)."""
    folder = Path(folder).expanduser()
    if not folder.exists():
        raise ModelNotFound(f"no such folder: {str(folder)!r}")
    check_folder(folder)
    name = _check_name(name or folder.resolve().name)
    if link:
        return _register(settings, _manifest(name, folder, source="import", linked=True))
    tmp = _staging_dir(settings, name)
    try:
        for src in checkpoint_files(folder):
            dst = tmp / src.relative_to(folder)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
        target = _install(settings, tmp, name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _register(settings, _manifest(name, target, source="import"))


def _hub_snapshot(repo_id: str, revision: str | None, local_dir: Path) -> str:
    """Download a hub snapshot into local_dir; return the commit. (Tests replace this.)"""
    from huggingface_hub import HfApi, snapshot_download

    commit = HfApi().model_info(repo_id, revision=revision).sha
    snapshot_download(repo_id, revision=commit, local_dir=local_dir)
    return commit or revision or "unknown"


def hub_offline(settings: Settings) -> bool:
    return settings.offline or os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def pull(repo_id: str, settings: Settings, *, revision: str | None = None,
         name: str | None = None) -> CacheEntry:
    """Download `repo_id` from the hub into the cache and record its manifest."""
    if native_counterpart(repo_id):
        raise remote_code_error(repo_id)
    if hub_offline(settings):
        raise ModelNotFound(
            f"cannot pull {repo_id!r}: offline mode is on (UFFIZI_OFFLINE / HF_HUB_OFFLINE). Pull "
            "on a connected machine and copy its model cache over, or `uffizi model import DIR`"
        )
    name = _check_name(name or repo_id)
    tmp = _staging_dir(settings, name)
    try:
        try:
            commit = _hub_snapshot(repo_id, revision, tmp)
        except Exception as exc:  # noqa: BLE001 - every hub failure becomes one typed error
            raise _hub_error(repo_id, revision, exc) from exc
        check_folder(tmp, source=repo_id)
        target = _install(settings, tmp, name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    entry = _manifest(name, target, source="hub", repo_id=repo_id, revision=revision, commit=commit)
    return _register(settings, entry)


def _hub_error(repo_id: str, revision: str | None, exc: Exception) -> ModelLoadError:
    kind = type(exc).__name__
    if kind in {"RepositoryNotFoundError", "GatedRepoError"}:
        return ModelNotFound(f"{repo_id!r} is not on the hub or needs access you lack ({exc})")
    if kind == "RevisionNotFoundError":
        return ModelNotFound(f"{repo_id!r} has no revision {revision!r}")
    return ModelLoadError(
        f"cannot download {repo_id!r} from the hub ({kind}: {exc}). Check the network or "
        "HF_ENDPOINT; on an air-gapped machine copy a model cache or `uffizi model import DIR`"
    )


def verify(name: str, settings: Settings) -> VerifyReport:
    """Re-hash a cached model's files against its manifest."""
    entry = get_entry(name, settings)
    if entry is None:
        raise ModelNotFound(f"{name!r} is not in the model cache (see `uffizi model list`)")
    folder = entry.folder(settings)
    report = VerifyReport(name=name, path=str(folder), ok=False)
    present = {p.relative_to(folder).as_posix(): p for p in checkpoint_files(folder)} if folder.is_dir() else {}
    for rel, digest in sorted(entry.files.items()):
        if rel not in present:
            report.missing.append(rel)
        elif sha256_file(present[rel]) != digest:
            report.changed.append(rel)
        report.checked += 1
    report.extra = sorted(set(present) - set(entry.files))
    report.ok = not (report.missing or report.changed)
    return report


def remove(name: str, settings: Settings) -> CacheEntry:
    """Drop a model from the index; delete its folder unless it was linked."""
    with _lock(settings):
        entries = _read_index(settings)
        entry = entries.pop(name, None)
        if entry is None:
            raise ModelNotFound(f"{name!r} is not in the model cache (see `uffizi model list`)")
        _write_index(settings, entries)
    if not entry.linked:
        shutil.rmtree(entry.folder(settings), ignore_errors=True)
    return entry
