"""`uffizi serve`: the REST API on uvicorn, on embedded defaults (SQLite, in-process runner).

On start it applies the store's migrations, refuses a non-loopback bind while no API key
exists (unless `--insecure`), then serves at once: the model loads in a background thread
(`/readyz` says when it is ready, or why it cannot load) and the runner threads start.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from typing import Annotated

import typer

from uffizi.errors import InsecureBind


def is_loopback(host: str) -> bool:
    """True when every address `host` names is a loopback address."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0].split("%", 1)[0]).is_loopback for i in infos)


def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default UFFIZI_HOST, 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default UFFIZI_PORT, 8000)")] = None,
    model: Annotated[str | None, typer.Option(help="Hub id, folder, cache name or preset")] = None,
    db: Annotated[str | None, typer.Option("--db", help="Job store URL (default: SQLite in the data dir)")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Blobs and the SQLite file")] = None,
    runners: Annotated[int | None, typer.Option(help="In-process runner threads (0: none)")] = None,
    insecure: Annotated[bool, typer.Option("--insecure", help="Allow a non-loopback bind with no API key")] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Serve the REST API (jobs, inference, results, events, metrics)."""
    import uvicorn

    from uffizi.api.app import create_app
    from uffizi.api.auth import any_keys
    from uffizi.platform import get_platform, reset_platform
    from uffizi.settings import get_settings
    from uffizi.store.db import Database

    update = {"host": host, "port": port, "model": model, "db_url": db, "data_dir": data_dir,
              "runners": runners, "insecure": insecure or None}
    settings = get_settings().model_copy(update={k: v for k, v in update.items() if v is not None})
    database = Database.from_settings(settings)
    database.ping()
    database.upgrade()
    with database.session() as s:
        keys = any_keys(s)
    if not keys and not settings.insecure and not is_loopback(settings.host):
        raise InsecureBind(
            f"refusing to serve on {settings.host} with no API key: anyone who can reach it could "
            "submit jobs. Create a key first (`uffizi keys create`), bind to 127.0.0.1, or pass "
            "--insecure", details={"host": settings.host},
        )
    reset_platform()
    platform = get_platform(settings)
    app = create_app(settings, platform=platform, db=database)
    shown = database.url.render_as_string(hide_password=True)
    typer.echo(f"uffizi: serving on http://{settings.host}:{settings.port} (store {shown}; model "
               f"{settings.model} loading in the background; {settings.runners} runner thread(s)"
               f"{'' if keys else '; no API keys: the API is open'})", err=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level,
                timeout_graceful_shutdown=15)


def install(app: typer.Typer) -> None:
    app.command("serve")(serve)
