"""`uffizi keys create|list|revoke`: API keys, straight in the job store (any tenant).

`create` prints the key once on stdout (it is stored only hashed); once any key exists, the
service needs one on every request but `/healthz` and `/readyz`. All three take `--db URL`
(default: UFFIZI_DB_URL, else the SQLite file in the data directory) and migrate it first.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

keys_app = typer.Typer(name="keys", help="API keys: create (shown once), list, revoke.",
                       no_args_is_help=True)

DbOption = Annotated[str | None, typer.Option("--db", help="Job store URL (default: UFFIZI_DB_URL "
                                               "or the SQLite file in the data directory)")]


def _database(url: str | None):
    from uffizi.settings import get_settings
    from uffizi.store.db import Database

    database = Database(url) if url else Database.from_settings(get_settings())
    database.ping()
    database.upgrade()
    return database


@keys_app.command("create")
def create(
    tenant: Annotated[str, typer.Option(help="Tenant the key acts for")] = "default",
    scopes: Annotated[str, typer.Option(help="Comma-separated: submit, read, admin")] = "submit,read",
    name: Annotated[str, typer.Option(help="A label to recognise it by")] = "",
    db: DbOption = None,
) -> None:
    """Create a key and print it (this is the only time it is shown)."""
    from uffizi.api.auth import create_key

    database = _database(db)
    try:
        with database.session() as s:
            row, key = create_key(s, tenant=tenant, scopes=scopes, name=name)
    finally:
        database.dispose()
    typer.echo(f"created key {row.id} for tenant {row.tenant!r} with scopes {row.scopes}; "
               "store it now, it is not shown again:", err=True)
    typer.echo(key)


@keys_app.command("list")
def list_(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    db: DbOption = None,
) -> None:
    """List keys (ids, tenants, scopes, when created, last used, revoked); never the secrets."""
    from uffizi.api.auth import list_keys

    database = _database(db)
    try:
        with database.session() as s:
            rows = list_keys(s, tenant=tenant)
    finally:
        database.dispose()
    data = [{"id": r.id, "tenant": r.tenant, "name": r.name, "scopes": r.scopes.split(","),
             "created_at": r.created_at.isoformat(),
             "last_used_at": r.last_used_at.isoformat() if r.last_used_at else None,
             "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None} for r in rows]
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    table = Table("id", "tenant", "name", "scopes", "created", "last used", "revoked")
    for r in data:
        table.add_row(r["id"], r["tenant"], r["name"], ",".join(r["scopes"]), r["created_at"][:19],
                      (r["last_used_at"] or "")[:19], (r["revoked_at"] or "")[:19])
    Console().print(table)


@keys_app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key's id (the part after uffizi_)")],
           db: DbOption = None) -> None:
    """Revoke a key: it stops working at once."""
    from uffizi.api.auth import revoke_key

    if key_id.startswith("uffizi_"):
        key_id = key_id.split("_")[1]
    database = _database(db)
    try:
        with database.session() as s:
            row = revoke_key(s, key_id)
    finally:
        database.dispose()
    typer.echo(f"revoked key {row.id} (tenant {row.tenant!r})")


def install(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
