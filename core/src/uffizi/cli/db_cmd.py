"""`uffizi db`: the job store's schema. `upgrade` applies the Alembic migrations shipped with
Uffizi (also done by `uffizi serve` on start); `current` shows the revision a database is at.

Both take `--db URL` (default: UFFIZI_DB_URL, else the SQLite file in the data directory).
Errors are `UffiziError`s (`store_unavailable` when the database cannot be reached).
"""

from __future__ import annotations

from typing import Annotated

import typer

db_app = typer.Typer(name="db", help="The job store's database: apply migrations, show the revision.",
                     no_args_is_help=True)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="SQLAlchemy URL of the job store (default: UFFIZI_DB_URL or the "
                 "SQLite file in the data directory)"),
]


def install(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")


def _database(url: str | None):
    from uffizi.settings import get_settings
    from uffizi.store.db import Database

    database = Database(url) if url else Database.from_settings(get_settings())
    database.ping()
    return database


def _shown(database) -> str:
    return database.url.render_as_string(hide_password=True)


@db_app.command("upgrade")
def upgrade(db: DbOption = None) -> None:
    """Apply the migrations up to the newest revision (safe to run again)."""
    database = _database(db)
    try:
        before = database.current()
        after = database.upgrade()
    finally:
        database.dispose()
    if before == after:
        typer.echo(f"{_shown(database)}: already at {after} (head)")
    else:
        typer.echo(f"{_shown(database)}: upgraded from {before or '(empty)'} to {after} (head)")


@db_app.command("current")
def current(db: DbOption = None) -> None:
    """Show the revision the database is at; exit status 1 when it is not at head."""
    database = _database(db)
    try:
        revision, head = database.current(), database.head()
    finally:
        database.dispose()
    state = "head" if revision == head else f"behind: head is {head}; run `uffizi db upgrade`"
    typer.echo(f"{_shown(database)}: {revision or '(no migrations applied)'} ({state})")
    if revision != head:
        raise typer.Exit(1)
