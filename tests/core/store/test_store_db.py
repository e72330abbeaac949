"""Database: migrations on SQLite and PostgreSQL, connection settings, ping, `uffizi db`."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from uffizi.errors import StoreUnavailable
from uffizi.settings import Settings
from uffizi.store.db import MIGRATIONS_DIR, Database, normalize_url

TABLES = {"jobs", "artifacts", "api_keys", "idempotency_keys"}


def test_upgrade_creates_the_four_tables_and_matches_the_models(db: Database):
    # db_url already ran upgrade(); a second and third run change nothing
    assert db.upgrade() == db.head() == "0001_initial"
    assert db.upgrade() == "0001_initial"
    assert set(inspect(db.engine).get_table_names()) >= TABLES
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                SQLModel.metadata)
    assert diff == []


def test_fresh_sqlite_file_upgrades_and_reports_its_revision(tmp_path: Path):
    db = Database(f"sqlite:///{tmp_path / 'deep' / 'dir' / 'u.db'}")  # parent folders made
    assert db.current() is None
    assert db.upgrade() == "0001_initial"
    assert db.current() == "0001_initial"
    assert (tmp_path / "deep" / "dir" / "u.db").is_file()
    db.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.needs_services)])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty store nobody has migrated: a new SQLite file or PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'u.db'}"
    return request.getfixturevalue("fresh_pg_url")


def test_concurrent_upgrades_of_one_fresh_store_all_succeed(fresh_url: str):
    errors, revisions = [], []

    def upgrade() -> None:
        db = Database(fresh_url)
        try:
            revisions.append(db.upgrade())
        except Exception as exc:  # pragma: no cover - the failure is the assertion below
            errors.append(exc)
        finally:
            db.dispose()

    threads = [threading.Thread(target=upgrade) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and revisions == ["0001_initial"] * 4


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(tmp_path: Path):
    db = Database(f"sqlite:///{tmp_path / 'u.db'}")
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    assert db.dialect == "sqlite"
    db.dispose()


def test_from_settings_puts_the_sqlite_file_in_the_data_dir(tmp_path: Path):
    db = Database.from_settings(Settings(home=tmp_path / "home"))
    assert db.url.database == str(tmp_path / "home" / "data" / "uffizi.db")
    db.upgrade()
    assert (tmp_path / "home" / "data" / "uffizi.db").is_file()
    db.dispose()


def test_postgres_urls_get_psycopg3():
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"


def test_ping_raises_store_unavailable_naming_the_setting():
    db = Database("postgresql://nobody:secret@127.0.0.1:1/none")
    with pytest.raises(StoreUnavailable) as info:
        db.ping()
    assert info.value.code == "store_unavailable" and info.value.status == 503
    assert "UFFIZI_DB_URL" in info.value.message and "secret" not in info.value.message
    db.dispose()


def test_ping_and_dialect_on_a_live_store(db: Database):
    db.ping()
    assert db.dialect in ("sqlite", "postgresql")
    with db.session() as s:
        assert s.execute(text("SELECT 1")).scalar() == 1


def test_migrations_ship_as_package_data():
    pyproject = (Path(__file__).resolve().parents[3] / "core" / "pyproject.toml").read_text()
    assert '"store/migrations/**/*"' in pyproject
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert list((MIGRATIONS_DIR / "versions").glob("0001_*.py"))


def _cli(*args: str, env_home: Path) -> subprocess.CompletedProcess:
    """The real `uffizi` entry point in a child process."""
    env = {**os.environ, "UFFIZI_HOME": str(env_home), "UFFIZI_LOAD_PLUGINS": ""}
    env.pop("UFFIZI_DB_URL", None)
    return subprocess.run([sys.executable, "-c", "from uffizi.cli import main; main()", *args],
                          capture_output=True, text=True, env=env, timeout=120)


def _invoke(*args: str):
    """`uffizi db ...` in this process (the command group alone)."""
    import typer
    from typer.testing import CliRunner

    from uffizi.cli import db_cmd

    app = typer.Typer()
    db_cmd.install(app)
    return CliRunner().invoke(app, list(args))


def test_cli_db_upgrade_then_current_on_the_default_store(tmp_path: Path):
    home = tmp_path / "cli-home"
    out = _cli("db", "upgrade", env_home=home)
    assert out.returncode == 0, out.stderr
    assert "upgraded from (empty) to 0001_initial (head)" in out.stdout
    assert (home / "data" / "uffizi.db").is_file()
    out = _cli("db", "current", env_home=home)
    assert out.returncode == 0 and "0001_initial (head)" in out.stdout


def test_cli_db_with_a_url(tmp_path: Path, db_url: str):
    fresh = f"sqlite:///{tmp_path / 'cli.db'}"
    out = _invoke("db", "current", "--db", fresh)
    assert out.exit_code == 1 and "no migrations applied" in out.stdout
    out = _invoke("db", "upgrade", "--db", fresh)
    assert out.exit_code == 0 and "upgraded from (empty) to 0001_initial" in out.stdout
    out = _invoke("db", "upgrade", "--db", db_url)  # SQLite or PostgreSQL, already migrated
    assert out.exit_code == 0 and "already at 0001_initial" in out.stdout
    out = _invoke("db", "current", "--db", db_url)
    assert out.exit_code == 0 and "0001_initial (head)" in out.stdout


def test_cli_db_reports_an_unreachable_store():
    out = _invoke("db", "upgrade", "--db", "postgresql://u:pw@127.0.0.1:1/x")
    assert isinstance(out.exception, StoreUnavailable)
    assert out.exception.code == "store_unavailable" and "pw" not in out.exception.message
