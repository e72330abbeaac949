"""`uffizi model`: build random-weight checkpoints, diagnose a model, manage the model cache.

`make-tiny` builds a preset's random-weight checkpoint into a folder; `info` is the model doctor
(exit status 1 when it finds problems); `pull`, `import`, `list`, `verify` and `remove` manage
the local model cache used on air-gapped machines; `presets` lists the presets. Errors are
`UffiziError`s, printed by the top-level handler as `error[code]: message`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

model_app = typer.Typer(name="model", help="Model presets, the model doctor and the local model cache.",
                        no_args_is_help=True)


def install(app: typer.Typer) -> None:
    app.add_typer(model_app, name="model")


def _console():
    from rich.console import Console

    return Console(soft_wrap=True)  # messages stay on one line (greppable); tables still fit


def _settings():
    from uffizi.settings import get_settings

    return get_settings()


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _millions(n: int) -> str:
    return f"{n / 1e6:.2f}M" if n < 1e9 else f"{n / 1e9:.2f}B"


# --- make-tiny ----------------------------------------------------------------------------------
@model_app.command("make-tiny")
def make_tiny(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the checkpoint into")],
    preset: Annotated[str, typer.Option(help="tiny, small, base-random or large-random")] = "tiny",
    seed: Annotated[int, typer.Option(help="Weights seed: the same seed gives the same weights")] = 0,
    force: Annotated[bool, typer.Option(help="Write into a folder that is not empty")] = False,
) -> None:
    """Build a random-weight Florence-2 checkpoint (for tests and benchmarks)."""
    from uffizi.errors import InvalidInput
    from uffizi.model.presets import get_preset, meta_model, parameter_counts

    get_preset(preset)  # unknown presets fail before anything is written
    if out_dir.exists() and not out_dir.is_dir():
        raise InvalidInput(f"{str(out_dir)!r} is a file; give a folder to write the checkpoint into")
    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        raise InvalidInput(f"{str(out_dir)!r} is not empty; pick another folder or pass --force")
    from uffizi.model.tiny import RANDOM_WEIGHTS_NOTE, build_checkpoint

    start = time.perf_counter()
    try:
        folder = build_checkpoint(out_dir, preset=preset, seed=seed)
    except OSError as exc:
        raise InvalidInput(f"cannot write the checkpoint into {str(out_dir)!r}: "
                           f"{exc.strerror or exc}") from None
    took = time.perf_counter() - start
    from transformers import Florence2Config

    counts = parameter_counts(meta_model(Florence2Config.from_pretrained(folder)))
    console = _console()
    console.print(f"built {preset!r} (seed {seed}) in {folder} in {took:.1f} s: "
                  f"{_millions(counts['total'])} parameters (vision {_millions(counts['vision'])}, "
                  f"language {_millions(counts['language'])})")
    console.print(f"[bold yellow]{RANDOM_WEIGHTS_NOTE.capitalize()}[/]: use it for tests and "
                  "benchmarks, never for answers.")


# --- info (the doctor) --------------------------------------------------------------------------
@model_app.command("info")
def info(
    source: Annotated[str, typer.Argument(help="Preset, folder, cache name or hub id")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Diagnose a model: architecture, parameters, weights, tokenizer, processor, problems."""
    from uffizi.model.doctor import diagnose

    report = diagnose(source, _settings())
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        _print_report(report)
    if not report.ok:
        raise SystemExit(1)  # typer.Exit would be swallowed under standalone_mode=False


def _kv_table(title: str, rows: dict[str, Any]):
    from rich.table import Table

    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("key", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in rows.items():
        table.add_row(key.replace("_", " "), value if isinstance(value, str) else json.dumps(value))
    return table


def _print_report(report) -> None:
    console = _console()
    console.print(f"[bold]{report.source}[/] ({report.path})")
    if report.architecture:
        console.print(_kv_table("architecture", report.architecture))
    if report.parameters:
        console.print(_kv_table("parameters", {k: f"{v:,} ({_millions(v)})" for k, v in report.parameters.items()}))
    if report.weights:
        w = report.weights
        console.print(_kv_table("stored weights", {
            "tensors": str(w["tensors"]), "dtypes": ", ".join(f"{k}: {v:,}" for k, v in w["dtypes"].items()),
            "missing": str(len(w["missing"])), "wrong shape": str(len(w["wrong_shape"])),
            "unused": str(len(w["unexpected"]))}))
    if report.tokenizer:
        t = report.tokenizer
        console.print(_kv_table("tokenizer", {
            "class": t["class"], "tokens": f"{t['size']} (model embeddings: {t['model_vocab_size']})",
            "location tokens": f"{t['loc_tokens_ok']} / 1000 single tokens",
            "task markers missing": " ".join(t["task_markers_missing"]) or "none",
            "image token": f"{t['image_token']} = {t['image_token_id']}",
            "bos / eos / pad": " / ".join(f"{v['tokenizer']}" + ("" if v["tokenizer"] == v["config"]
                                          else f" (config {v['config']})") for v in t["special_ids"].values()),
        }))
    if report.processor:
        console.print(_kv_table("processor", report.processor))
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    for problem in report.problems:
        console.print(f"[red]problem:[/] {problem}")
    console.print("[green]no problems found[/]" if report.ok
                  else f"[red]{len(report.problems)} problem(s) found[/]")


# --- the model cache ------------------------------------------------------------------------------
@model_app.command("pull")
def pull(
    repo_id: Annotated[str, typer.Argument(help="Hub id, e.g. florence-community/Florence-2-base")],
    revision: Annotated[str | None, typer.Option(help="Commit, tag or branch")] = None,
    name: Annotated[str | None, typer.Option(help="Name in the cache (default: the hub id)")] = None,
) -> None:
    """Download a checkpoint from the hub into the local model cache, with checksums."""
    from uffizi.model import cache

    entry = cache.pull(repo_id, _settings(), revision=revision, name=name)
    _console().print(f"pulled {repo_id} @ {entry.commit} as {entry.name!r}: {len(entry.files)} files, "
                     f"{_human_bytes(entry.size_bytes)}")


@model_app.command("import")
def import_(
    folder: Annotated[Path, typer.Argument(help="A checkpoint folder")],
    name: Annotated[str | None, typer.Option(help="Name in the cache (default: the folder name)")] = None,
    link: Annotated[bool, typer.Option(help="Reference the folder in place instead of copying it")] = False,
) -> None:
    """Validate a local checkpoint folder and add it to the model cache, with checksums."""
    from uffizi.model import cache

    entry = cache.import_folder(folder, _settings(), name=name, link=link)
    how = "linked" if entry.linked else "copied"
    _console().print(f"imported {str(folder)!r} as {entry.name!r} ({how}): {len(entry.files)} files, "
                     f"{_human_bytes(entry.size_bytes)}; use it as UFFIZI_MODEL={entry.name}")


@model_app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """Show the models in the local model cache."""
    from dataclasses import asdict

    from rich.table import Table

    from uffizi.model import cache

    settings = _settings()
    entries = cache.list_models(settings)
    if as_json:
        typer.echo(json.dumps([{**asdict(e), "folder": str(e.folder(settings))} for e in entries], indent=2))
        return
    if not entries:
        _console().print(f"the model cache ({cache.cache_dir(settings)}) is empty; "
                         "add models with `uffizi model pull ID` or `uffizi model import DIR`")
        return
    table = Table(title=f"model cache: {cache.cache_dir(settings)}")
    for column in ("name", "source", "revision", "files", "size", "added", "folder"):
        table.add_column(column, overflow="fold")
    for e in entries:
        source = e.repo_id or "import" + (" (linked)" if e.linked else "")
        table.add_row(e.name, source, (e.commit or e.revision or "")[:12], str(len(e.files)),
                      _human_bytes(e.size_bytes), e.added_at, str(e.folder(settings)))
    _console().print(table)


@model_app.command("verify")
def verify(
    name: Annotated[str, typer.Argument(help="Name in the model cache")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Re-check a cached model's sha256 checksums (exit status 1 on any difference)."""
    from uffizi.model import cache

    report = cache.verify(name, _settings())
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        console = _console()
        for label, files in (("changed", report.changed), ("missing", report.missing), ("extra", report.extra)):
            for rel in files:
                console.print(f"[{'yellow' if label == 'extra' else 'red'}]{label}:[/] {rel}")
        verdict = "[green]ok[/]" if report.ok else "[red]FAILED[/]"
        console.print(f"{name}: {verdict}, {report.checked} files checked in {report.path}")
    if not report.ok:
        raise SystemExit(1)  # typer.Exit would be swallowed under standalone_mode=False


@model_app.command("remove")
def remove(name: Annotated[str, typer.Argument(help="Name in the model cache")]) -> None:
    """Remove a model from the cache (its files too, unless it was linked)."""
    from uffizi.model import cache

    entry = cache.remove(name, _settings())
    _console().print(f"removed {entry.name!r}" + (" (the linked folder was left alone)" if entry.linked else ""))


@model_app.command("presets")
def presets() -> None:
    """List the random-weight presets and whether each is built yet."""
    from rich.table import Table

    from uffizi.model.presets import PRESETS
    from uffizi.model.sources import presets_dir

    folder = presets_dir(_settings())
    table = Table(title="random-weight presets (outputs are meaningless)")
    for column in ("name", "what", "built"):
        table.add_column(column, overflow="fold")
    for p in PRESETS.values():
        built = (folder / p.name / "config.json").is_file()
        table.add_row(p.name, p.description, "yes" if built else "on first use")
    _console().print(table)
    _console().print(f"presets live in {folder}")
