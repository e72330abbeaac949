"""`uffizi run`, `uffizi tasks`, `uffizi pipelines`: run a pipeline on local files, no server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from uffizi.errors import InvalidInput, InvalidOptions

console = Console(stderr=True)


def _platform(model: str | None = None, **overrides):
    from uffizi.platform import get_platform, reset_platform
    from uffizi.settings import get_settings

    update = {k: v for k, v in {"model": model, **overrides}.items() if v is not None}
    if not update:
        return get_platform()
    reset_platform()
    return get_platform(get_settings().model_copy(update=update))


def _parse_region(value: str | None) -> list[float] | None:
    if value is None:
        return None
    try:
        parts = [float(v) for v in value.replace(" ", "").split(",")]
    except ValueError:
        parts = []
    if len(parts) != 4:
        raise InvalidOptions(f"--region must be x1,y1,x2,y2 in pixels, got {value!r}")
    return parts


def run(
    pipeline: Annotated[str, typer.Argument(help="Pipeline, e.g. core/florence@v1 (latest version if none)")],
    inputs: Annotated[list[Path], typer.Argument(help="Input files", exists=True, dir_okay=False)],
    task: Annotated[list[str] | None, typer.Option("--task", "-t", help="Task token or name; repeat for several")] = None,
    text: Annotated[str | None, typer.Option(help="Text input (grounding, segmentation, open vocabulary)")] = None,
    region: Annotated[str | None, typer.Option(help="Region x1,y1,x2,y2 in pixels")] = None,
    classes: Annotated[str | None, typer.Option(help="Comma-separated classes for open-vocabulary detection")] = None,
    options: Annotated[str | None, typer.Option(help="Pipeline options as JSON (merged under the flags)")] = None,
    model: Annotated[str | None, typer.Option(help="Hub id, folder, cache name or preset (tiny, small)")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda, cuda:N, mps")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory")] = Path("out"),
    fmt: Annotated[str, typer.Option("--format", help="Comma-separated exporters")] = "json,png",
) -> None:
    """Run a pipeline on local files and write its exports (JSON and annotated images)."""
    from uffizi.runner import run_pipeline

    try:
        opts: dict = json.loads(options) if options else {}
    except json.JSONDecodeError as exc:
        raise InvalidOptions(f"--options is not valid JSON: {exc}") from None
    if not isinstance(opts, dict):
        raise InvalidOptions("--options must be a JSON object")
    if task:
        opts["tasks"] = task
    if text is not None:
        opts["text"] = text
    if region is not None:
        opts["region"] = _parse_region(region)
    if classes is not None:
        opts["classes"] = [c.strip() for c in classes.split(",") if c.strip()]
    platform = _platform(model, device=device)
    pipe = platform.get_pipeline(pipeline)
    pipe.parse_options(opts)  # fail on bad options before loading the model
    exporters = [platform.get_exporter(f.strip()) for f in fmt.split(",") if f.strip()]
    try:  # before the run: a bad --out must not waste it
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"--out {str(out)!r} cannot be a folder: {exc.strerror or exc}") from None
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # ours is the one progress bar
    with console.status(f"loading {platform.settings.model} ..."):
        engine = platform.engine()
    if getattr(getattr(engine, "loaded", None), "random_weights", False):
        console.print(f"[yellow]warning: {platform.settings.model} has random weights: "
                      "its output is meaningless (good for tests and benchmarks only)[/]")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        job = bar.add_task(pipe.id, total=None)

        def progress(frac: float, done: int, total: int | None) -> None:
            bar.update(job, completed=done, total=total)

        result = run_pipeline(platform, pipe.id, inputs, opts, on_progress=progress)
    written: list[Path] = []
    for exporter in exporters:
        written += exporter.export(result, out, inputs=[Path(p) for p in inputs])
    for w in result.warnings:
        console.print(f"[yellow]warning:[/] {w}")
    for path in written:
        typer.echo(str(path))


def tasks(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the Florence-2 tasks (built-in and from plugins)."""
    platform = _platform()
    rows = [t.to_dict() for t in platform.tasks]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("token", "name", "input", "result", "max tokens", "description")
    for r in rows:
        table.add_row(r["token"], r["name"], r["input"], r["result"], str(r["max_new_tokens"]),
                      r["description"])
    Console().print(table)


def pipelines(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the registered pipelines, every version."""
    platform = _platform()
    rows = [p.describe() | {"plugin": platform.owner_of("pipeline", pid)}
            for pid, p in sorted(platform.pipelines.items())]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("pipeline", "media", "streaming", "plugin", "description")
    for r in rows:
        table.add_row(r["id"], ", ".join(r["media_types"]), "yes" if r["streaming"] else "no",
                      r["plugin"] or "", r["description"])
    Console().print(table)


def install(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("tasks")(tasks)
    app.command("pipelines")(pipelines)
