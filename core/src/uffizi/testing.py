"""Test fixtures for Uffizi and its plugins: a pytest plugin (entry point `pytest11: uffizi`).

Any test suite with `uffizi` installed gets these fixtures without a conftest:

- `tiny_model_dir` (session): the tiny random-weight Florence-2 checkpoint, built once per
  session (about a second), or the folder in `UFFIZI_TEST_MODEL_DIR` when that is set (built
  there on first use, reused afterwards)
- `tiny_engine` (session): `Engine.from_pretrained(tiny_model_dir, device="cpu")`
- `sample_image_path` (session): a real photo (scikit-image's astronaut), skipped without it
- `uffizi_settings`: `Settings` whose home is a fresh temporary folder, set in the environment
  so `get_settings()` returns the same

and the helper `make_test_image(width, height, seed)`. Importing this module imports neither
torch nor transformers: pytest loads it in every session.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:

    from PIL import Image

    from uffizi.settings import Settings

TEST_MODEL_ENV = "UFFIZI_TEST_MODEL_DIR"
TEST_PG_ENV = "UFFIZI_TEST_PG"
DEFAULT_TEST_PG = "postgresql://postgres@127.0.0.1:5432/test"


@contextmanager
def postgres_database(prefix: str = "uffizi_test") -> Iterator[str]:
    """A PostgreSQL database of its own (`<prefix>_<pid>_<random>`), created on the server in
    `UFFIZI_TEST_PG` (default postgresql://postgres@127.0.0.1:5432/test) and dropped on exit;
    yields its SQLAlchemy URL. Skips the test, with the reason, when psycopg is missing or the
    server cannot be reached (CI fails such a skip for `needs_services` tests)."""
    import secrets

    from sqlalchemy.engine import make_url

    admin_url = os.environ.get(TEST_PG_ENV, DEFAULT_TEST_PG)

    def admin():
        try:
            import psycopg
        except ImportError:
            pytest.skip("psycopg is not installed (pip install 'uffizi[postgres]'): no PostgreSQL tests")
        try:
            return psycopg.connect(admin_url, autocommit=True, connect_timeout=3)
        except Exception as exc:
            pytest.skip(f"PostgreSQL at {admin_url} is unreachable ({type(exc).__name__}: "
                        f"{str(exc).strip()[:120]}); start it to run the needs_services tests")

    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    with admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url).set(drivername="postgresql+psycopg", database=name).render_as_string(
            hide_password=False)
    finally:
        with admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_test_image(width: int = 320, height: int = 240, seed: int = 0) -> Image.Image:
    """An RGB image with a plain background and a few coloured shapes (rectangles, ellipses,
    a triangle), the same for the same arguments."""
    import random

    from PIL import Image, ImageDraw

    rng = random.Random(seed)

    def colour() -> tuple[int, int, int]:
        return (rng.randrange(256), rng.randrange(256), rng.randrange(256))

    image = Image.new("RGB", (width, height), colour())
    draw = ImageDraw.Draw(image)
    for i in range(4):
        w = rng.randint(max(1, width // 8), max(2, width // 3))
        h = rng.randint(max(1, height // 8), max(2, height // 3))
        x, y = rng.randint(0, max(0, width - w)), rng.randint(0, max(0, height - h))
        box = (x, y, x + w, y + h)
        if i % 3 == 0:
            draw.rectangle(box, fill=colour(), outline=colour())
        elif i % 3 == 1:
            draw.ellipse(box, fill=colour())
        else:
            draw.polygon([(x, y + h), (x + w // 2, y), (x + w, y + h)], fill=colour())
    return image


def _prepare_model_dir(folder: Path) -> Path:
    """Reuse a checkpoint in `folder`, or build the tiny one there (once, across processes)."""
    from filelock import FileLock

    if (folder / "config.json").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder.parent / f".{folder.name}.lock"), timeout=600):
        if not (folder / "config.json").is_file():
            import shutil
            import tempfile

            from uffizi.model.tiny import build_checkpoint

            tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-"))
            try:
                build_checkpoint(tmp, preset="tiny", seed=0)
                if folder.exists():
                    shutil.rmtree(folder)
                os.replace(tmp, folder)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random-weight Florence-2 checkpoint folder (~1M parameters; built once)."""
    prebuilt = os.environ.get(TEST_MODEL_ENV, "").strip()
    if prebuilt:
        return _prepare_model_dir(Path(prebuilt).expanduser())
    from uffizi.model.tiny import build_checkpoint

    return build_checkpoint(tmp_path_factory.mktemp("tiny-florence2"), preset="tiny", seed=0)


@pytest.fixture(scope="session")
def tiny_engine(tiny_model_dir: Path):
    """The Uffizi engine on the tiny checkpoint, on the CPU (one per session)."""
    from uffizi.engine import Engine

    engine = Engine.from_pretrained(str(tiny_model_dir), device="cpu")
    yield engine
    close = getattr(engine, "close", None)
    if callable(close):
        close()


@pytest.fixture(scope="session")
def sample_image_path() -> Path:
    """A real photo: scikit-image's `data/astronaut.png` (512x512 RGB)."""
    import importlib.util

    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-image is not installed (pip install 'uffizi[test]'): no sample photo")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "astronaut.png"
    if not path.is_file():
        pytest.skip(f"scikit-image has no {path.name} at {path}")
    return path


@pytest.fixture
def uffizi_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings with a fresh home folder (models, cache, store), also seen by get_settings()."""
    from uffizi.settings import Settings, get_settings

    home = tmp_path / "uffizi-home"
    monkeypatch.setenv("UFFIZI_HOME", str(home))
    get_settings.cache_clear()
    yield Settings(home=home)
    get_settings.cache_clear()
