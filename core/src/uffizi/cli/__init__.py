"""The `uffizi` command line: one Typer app; each command group lives in its own module.

Errors that are `UffiziError`s print as `error[code]: message` and exit with status 2; plugins
add commands through the `register_commands(cli)` hook.
"""

from __future__ import annotations

import sys

import typer

from uffizi.errors import UffiziError

app = typer.Typer(
    name="uffizi",
    help="Florence-2 for industry verticals: run pipelines, manage models and plugins.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _build() -> typer.Typer:
    from uffizi.cli import bench_cmd, db_cmd, jobs_cmd, keys_cmd, model_cmd, plugins_cmd, run_cmd, serve_cmd

    run_cmd.install(app)
    model_cmd.install(app)
    plugins_cmd.install(app)
    bench_cmd.install(app)
    db_cmd.install(app)
    serve_cmd.install(app)
    jobs_cmd.install(app)
    keys_cmd.install(app)
    try:
        from uffizi.platform import get_platform

        get_platform().notify("register_commands", cli=app)
    except UffiziError as exc:  # a broken plugin never takes the CLI down
        typer.echo(f"warning: plugin commands not loaded: {exc}", err=True)
    return app


def _is_usage_error(exc: Exception) -> bool:
    """Click's usage errors: typer >= 0.20 vendors click (`typer._click`), older typer uses click."""
    if isinstance(exc, typer.TyperException) and callable(getattr(exc, "show", None)):
        return True
    try:
        import click
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, click.exceptions.ClickException)


def main() -> None:
    cli = _build()
    try:
        code = cli(standalone_mode=False)
    except UffiziError as exc:
        typer.echo(f"error[{exc.code}]: {exc.message}", err=True)
        sys.exit(2)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:
        if _is_usage_error(exc):  # bad arguments, a missing file, an unknown command
            exc.show()  # type: ignore[attr-defined]
            sys.exit(getattr(exc, "exit_code", 2))
        raise
    sys.exit(code if isinstance(code, int) else 0)
