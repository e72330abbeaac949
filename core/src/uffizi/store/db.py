"""`Database`: the job store's SQLAlchemy engine, its sessions and its migrations.

One `Database` per process, shared by every thread: each unit of work opens its own session
(`with db.session() as s: ...`) and passes ids, never ORM objects, to other threads.

- SQLite (the default, a file under `settings.resolved_data_dir`): WAL, `busy_timeout` 30 s,
  foreign keys on, `check_same_thread=False`. The sqlite3 driver's default transaction mode is
  kept on purpose: SELECTs run outside a transaction and the first write opens one, so a
  conditional UPDATE waits for the write lock (busy_timeout) instead of failing on a stale
  read snapshot.
- PostgreSQL: `postgresql://` and `postgres://` URLs are run with psycopg 3
  (`postgresql+psycopg://`); connections are checked before use.

`upgrade()` applies the Alembic migrations in `uffizi/store/migrations` (shipped as package
data; no alembic.ini) up to head. It is idempotent and safe to run from several processes at
once: PostgreSQL serialises it with an advisory lock, SQLite with a lock file.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event, pool, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from uffizi.errors import StoreUnavailable

if TYPE_CHECKING:
    from alembic.config import Config

    from uffizi.settings import Settings

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
_PG_MIGRATION_LOCK = 0x75FF171  # pg_advisory_xact_lock key for `upgrade()`


def normalize_url(url: str | URL) -> URL:
    """Parse a store URL; PostgreSQL URLs without a driver get psycopg 3."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


class Database:
    """The job store's database: `.engine`, `.session()`, `.upgrade()`, `.ping()`, `.dialect`."""

    def __init__(self, url: str | URL, *, echo: bool = False) -> None:
        self.url = normalize_url(url)
        kwargs: dict[str, Any] = {"echo": echo}
        if self.url.get_backend_name() == "sqlite":
            database = self.url.database or ""
            memory = database in ("", ":memory:") or self.url.query.get("mode") == "memory"
            kwargs["connect_args"] = {
                "check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
            }
            if memory:  # one shared connection, or every session would see its own database
                kwargs["poolclass"] = pool.StaticPool
            else:
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", _sqlite_on_connect)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        """The store named by `settings.db_url`, or the SQLite file in the data directory."""
        settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)
        return cls(settings.resolved_db_url)

    @property
    def dialect(self) -> str:
        """"sqlite" or "postgresql"."""
        return self.engine.dialect.name

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A new session for one unit of work (objects stay readable after commit)."""
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    def ping(self) -> None:
        """Raise `StoreUnavailable` when the database cannot be reached."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise StoreUnavailable(
                f"the job store at {self.url.render_as_string(hide_password=True)} is unreachable: "
                f"{type(exc.orig or exc).__name__}; check UFFIZI_DB_URL"
            ) from None

    def dispose(self) -> None:
        self.engine.dispose()

    # --- migrations ---------------------------------------------------------------------------
    def alembic_config(self, connection: Connection | None = None) -> Config:
        """A programmatic Alembic config (no alembic.ini) for this database."""
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.set_main_option(
            "sqlalchemy.url", self.url.render_as_string(hide_password=False).replace("%", "%%")
        )
        config.attributes["connection"] = connection
        return config

    def upgrade(self, revision: str = "head") -> str | None:
        """Apply the migrations up to `revision`; returns the revision the database is at."""
        from alembic import command

        if self.dialect == "postgresql":
            with self.engine.begin() as conn:
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
                command.upgrade(self.alembic_config(conn), revision)
        else:
            with self._sqlite_lock(), self.engine.begin() as conn:
                command.upgrade(self.alembic_config(conn), revision)
        return self.current()

    def current(self) -> str | None:
        """The revision the database is at (None: no migration applied yet)."""
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def head(self) -> str | None:
        """The newest revision shipped with this version of Uffizi."""
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(self.alembic_config()).get_current_head()

    @contextmanager
    def _sqlite_lock(self) -> Iterator[None]:
        database = self.url.database or ""
        if database in ("", ":memory:") or self.url.query.get("mode") == "memory":
            yield
            return
        from filelock import FileLock

        path = Path(database).expanduser()
        with FileLock(str(path.with_name(f".{path.name}.migrate.lock")), timeout=300):
            yield
