"""Fixtures of the job runner tests: the store fixtures (tests/core/store/conftest.py: `db_url`
on SQLite and PostgreSQL, `db`, `blobs`) plus a platform on the tiny checkpoint."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "uffizi_tests_store_fixtures", Path(__file__).resolve().parents[1] / "store" / "conftest.py")
_store = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_store)

BACKENDS = _store.BACKENDS
pg_session_url = _store.pg_session_url
db_url = _store.db_url
db = _store.db
blobs = _store.blobs


@pytest.fixture(scope="module")
def platform(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """A platform on the tiny checkpoint with the built-ins and the test pipelines."""
    from job_pipelines import TestPipelines

    from uffizi.platform import Platform
    from uffizi.settings import Settings

    settings = Settings(model=str(tiny_model_dir), home=tmp_path_factory.mktemp("jobs-home"),
                        load_plugins="", device="cpu")
    plat = Platform(settings, plugins=[TestPipelines()])
    yield plat
    plat.close()


@pytest.fixture
def photo(sample_image_path: Path) -> Path:
    """A real photo (scikit-image's astronaut, PNG)."""
    return sample_image_path


@pytest.fixture
def submit(db, blobs):
    """`submit(pipeline, files, options=None, **create_job_kwargs) -> job id`: stores the files
    in the blob store and writes a pending job, as the API does."""
    from uffizi.store import jobs as J

    def make(pipeline: str, files: list[Path], options: dict | None = None, **kw) -> str:
        inputs = []
        for path in files:
            sha, size = blobs.put_file(path)
            inputs.append({"name": Path(path).name, "sha256": sha, "media_type": "image/png",
                           "size": size})
        with db.session() as s:
            job, _ = J.create_job(s, tenant="default", pipeline=pipeline, options=options or {},
                                  inputs=inputs, provenance={"test": True}, **kw)
        return job.id

    return make
