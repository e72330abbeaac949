"""Job store fixtures: a database per test on SQLite and on the real PostgreSQL.

`db_url` is parametrized: a fresh SQLite file, and a PostgreSQL database made for this test
session (`uffizi_test_<pid>_<random>`, created with psycopg, migrated once, emptied before
each test, dropped at the end). The PostgreSQL case is marked `needs_services` and skips with
the reason when 127.0.0.1:5432 cannot be reached (CI fails on that skip, see tests/conftest.py).
`UFFIZI_TEST_PG` overrides the server URL (default postgresql://postgres@127.0.0.1:5432/test).
The jobs tests load these fixtures from this file too (tests/core/jobs/conftest.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from uffizi.store.blobs import BlobStore
from uffizi.store.db import Database
from uffizi.testing import postgres_database

TABLES = ("artifacts", "idempotency_keys", "api_keys", "jobs")
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.needs_services)]


@pytest.fixture(scope="session")
def pg_session_url() -> Iterator[str]:
    """A PostgreSQL database of its own for this test session, migrated to head."""
    with postgres_database("uffizi_test") as url:
        db = Database(url)
        db.upgrade()
        db.dispose()
        yield url


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """An empty PostgreSQL database (no migrations applied), dropped after the test."""
    with postgres_database("uffizi_test") as url:
        yield url


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
