"""Job store fixtures: a database per test on SQLite and on the real PostgreSQL.

`db_url` is parametrized: a fresh SQLite file, and a PostgreSQL database made for this test
session (`uffizi_test_<pid>_<random>`, created with psycopg, migrated once, emptied before
each test, dropped at the end). The PostgreSQL case is marked `needs_services` and skips with
the reason when 127.0.0.1:5432 cannot be reached (CI fails on that skip, see tests/conftest.py).
`UFFIZI_TEST_PG` overrides the server URL (default postgresql://postgres@127.0.0.1:5432/test).
The jobs tests load these fixtures from this file too (tests/core/jobs/conftest.py).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from uffizi.store.blobs import BlobStore
from uffizi.store.db import Database

PG_ADMIN_URL = os.environ.get("UFFIZI_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
TABLES = ("artifacts", "idempotency_keys", "api_keys", "jobs")
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.needs_services)]


def _admin_connect():
    try:
        import psycopg
    except ImportError:
        pytest.skip("psycopg is not installed (pip install 'uffizi[postgres]'): no PostgreSQL tests")
    try:
        return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except Exception as exc:
        pytest.skip(f"PostgreSQL at {PG_ADMIN_URL} is unreachable ({type(exc).__name__}: "
                    f"{str(exc).strip()[:120]}); start it to run the needs_services tests")


@pytest.fixture(scope="session")
def pg_session_url() -> Iterator[str]:
    """A PostgreSQL database of its own for this test session, migrated to head."""
    from sqlalchemy.engine import make_url

    name = f"uffizi_test_{os.getpid()}_{secrets.token_hex(4)}"
    with _admin_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(PG_ADMIN_URL).set(drivername="postgresql+psycopg", database=name)
    url_text = url.render_as_string(hide_password=False)
    try:
        db = Database(url_text)
        db.upgrade()
        db.dispose()
        yield url_text
    finally:
        with _admin_connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """An empty PostgreSQL database (no migrations applied), dropped after the test."""
    from sqlalchemy.engine import make_url

    name = f"uffizi_test_{os.getpid()}_{secrets.token_hex(4)}"
    with _admin_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(PG_ADMIN_URL).set(drivername="postgresql+psycopg", database=name).render_as_string(
            hide_password=False)
    finally:
        with _admin_connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty, migrated job store (SQLite file, or the session's PostgreSQL)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store' / 'uffizi.db'}"
        db = Database(url)
        db.upgrade()
        db.dispose()
        return url
    url = request.getfixturevalue("pg_session_url")
    db = Database(url)
    with db.engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY")
    db.dispose()
    return url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def blobs(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")
