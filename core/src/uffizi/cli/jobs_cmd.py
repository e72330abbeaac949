"""`uffizi jobs submit|list|show|wait|result|cancel`: jobs on a running server, through
`uffizi.client.Client` (server from `--server` / UFFIZI_URL, key from `--api-key` /
UFFIZI_API_KEY). `wait` (and `submit --wait`) shows a progress bar until the job ends and
exits 1 when it did not succeed."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from uffizi.errors import InvalidOptions

jobs_app = typer.Typer(name="jobs", help="Jobs on a running server: submit, list, show, wait, "
                       "result, cancel.", no_args_is_help=True)
console = Console(stderr=True)

Server = Annotated[str | None, typer.Option("--server", envvar="UFFIZI_URL",
                                            help="Server URL (default http://127.0.0.1:8000)")]
ApiKey = Annotated[str | None, typer.Option("--api-key", envvar="UFFIZI_API_KEY", help="API key")]


def _client(server: str | None, api_key: str | None):
    from uffizi.client import Client

    return Client(server, api_key)


def _echo(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=True))


def _wait(client: Any, job_id: str, timeout: float | None) -> dict[str, Any]:
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
               TextColumn("{task.fields[status]}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(job_id, total=1.0, status="")

        def show(job: dict[str, Any]) -> None:
            bar.update(task, completed=job.get("progress", 0.0), status=job.get("status", ""))

        job = client.wait(job_id, timeout=timeout, progress=show)
        show(job)
    return job


def _finish(job: dict[str, Any]) -> None:
    _echo(job)
    if job["status"] != "succeeded":
        error = job.get("error") or {}
        console.print(f"[red]job {job['id']} {job['status']}[/]"
                      + (f": error[{error.get('code')}]: {error.get('message')}" if error else ""))
        raise typer.Exit(1)


@jobs_app.command("submit")
def submit(
    pipeline: Annotated[str, typer.Argument(help="e.g. core/florence@v1 (latest version if none)")],
    inputs: Annotated[list[Path] | None, typer.Argument(help="Files to upload", exists=True, dir_okay=False)] = None,
    url: Annotated[list[str] | None, typer.Option("--url", help="An input to fetch; repeat")] = None,
    task: Annotated[list[str] | None, typer.Option("--task", "-t", help="Task (core/florence); repeat")] = None,
    options: Annotated[str | None, typer.Option(help="Pipeline options as JSON")] = None,
    webhook: Annotated[str | None, typer.Option(help="URL POSTed the job when it ends")] = None,
    idempotency_key: Annotated[str | None, typer.Option(help="Retry-safe key")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait with a progress bar")] = False,
    timeout: Annotated[float | None, typer.Option(help="With --wait: give up after seconds")] = None,
    server: Server = None, api_key: ApiKey = None,
) -> None:
    """Submit a job: upload files and/or URLs; prints the job (JSON)."""
    try:
        opts = json.loads(options) if options else {}
    except ValueError as exc:
        raise InvalidOptions(f"--options is not JSON: {exc}") from None
    if not isinstance(opts, dict):
        raise InvalidOptions("--options must be a JSON object")
    if task:
        opts["tasks"] = task
    with _client(server, api_key) as client:
        job = client.submit(pipeline, inputs or [], options=opts, urls=url or [], webhook_url=webhook,
                            idempotency_key=idempotency_key)
        if not wait:
            _echo(job)
            return
        console.print(f"submitted {job['id']}")
        _finish(_wait(client, job["id"], timeout))


@jobs_app.command("list")
def list_(
    status: Annotated[str | None, typer.Option(help="pending, running, succeeded, failed, canceled")] = None,
    pipeline: Annotated[str | None, typer.Option(help="name or name@vN")] = None,
    limit: Annotated[int, typer.Option(help="Jobs per page")] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    server: Server = None, api_key: ApiKey = None,
) -> None:
    """List your jobs, newest first."""
    with _client(server, api_key) as client:
        page = client.list(status=status, pipeline=pipeline, limit=limit)
    if as_json:
        _echo(page)
        return
    table = Table("id", "pipeline", "status", "progress", "attempts", "created", "error")
    for j in page["items"]:
        table.add_row(j["id"], j["pipeline"], j["status"], f"{j['progress']:.0%}", str(j["attempts"]),
                      j["created_at"][:19], (j.get("error") or {}).get("code", ""))
    Console().print(table)
    if page.get("next_cursor"):
        console.print("(more: use --limit, or the API's cursor)")


@jobs_app.command("show")
def show(job_id: str, server: Server = None, api_key: ApiKey = None) -> None:
    """Print one job (JSON): status, progress, error, attempts, provenance, artifacts."""
    with _client(server, api_key) as client:
        _echo(client.get(job_id))


@jobs_app.command("wait")
def wait_cmd(job_id: str, timeout: Annotated[float | None, typer.Option(help="Give up after seconds")] = None,
             server: Server = None, api_key: ApiKey = None) -> None:
    """Wait for a job with a progress bar; exit status 1 unless it succeeded."""
    with _client(server, api_key) as client:
        _finish(_wait(client, job_id, timeout))


@jobs_app.command("result")
def result(
    job_id: str,
    fmt: Annotated[str, typer.Option("--format", help="json, png, ... (the server's exporters)")] = "json",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write to this file")] = None,
    server: Server = None, api_key: ApiKey = None,
) -> None:
    """Fetch a job's result through an exporter: JSON to stdout, other formats to --out."""
    with _client(server, api_key) as client:
        data = client.result(job_id, format=fmt)
    raw = json.dumps(data, indent=2, sort_keys=True).encode() if not isinstance(data, bytes) else data
    if out is not None:
        out.write_bytes(raw)
        typer.echo(str(out))
    elif isinstance(data, bytes) and sys.stdout.isatty():
        raise InvalidOptions(f"--format {fmt} is binary: pass --out FILE")
    else:
        sys.stdout.buffer.write(raw + (b"\n" if not isinstance(data, bytes) else b""))


@jobs_app.command("cancel")
def cancel(job_id: str, server: Server = None, api_key: ApiKey = None) -> None:
    """Cancel a job (pending: at once; running: between frames)."""
    with _client(server, api_key) as client:
        _echo(client.cancel(job_id))


def install(app: typer.Typer) -> None:
    app.add_typer(jobs_app, name="jobs")
