"""`uffizi plugins`: list the plugins and what happened to each, install one, start a new one.

`list` shows every plugin seen (built-in, installed, disabled by UFFIZI_LOAD_PLUGINS) with its
version, the hooks it implements, its status and the error that got it refused. `install` runs
pip in this interpreter's environment and then shows the new plugin's report. `new` renders the
template shipped inside the package (`uffizi/templates/plugin`) into a ready-to-install
distribution `uffizi-NAME`.
"""

from __future__ import annotations

import json
import keyword
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer

from uffizi import __version__

plugins_app = typer.Typer(
    name="plugins",
    help="List, install and create plugins.",
    no_args_is_help=False,
    invoke_without_command=True,
)

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_VERTICAL_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
TEMPLATE_SUFFIX = ".tmpl"
PACKAGE_PLACEHOLDER = "__package__"


def install(app: typer.Typer) -> None:
    app.add_typer(plugins_app, name="plugins")


# --- list -----------------------------------------------------------------------------------------
def _reports() -> list[dict[str, Any]]:
    from uffizi.platform import get_platform

    return [r.to_dict() for r in get_platform().reports]


def print_reports_json() -> None:
    """Used by `install` in a fresh interpreter, where newly installed plugins are visible."""
    print(json.dumps(_reports()))


def _show_table(reports: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Uffizi plugins", show_lines=False)
    for column in ("name", "version", "status", "hooks", "error"):
        table.add_column(column, overflow="fold")
    colors = {"ok": "green", "error": "red", "disabled": "yellow"}
    for r in reports:
        name = f"{r['name']} [dim](built-in)[/dim]" if r["builtin"] else r["name"]
        problems = [r["error"]] if r["error"] else []
        problems += [f"[yellow]{w}[/yellow]" for w in r.get("warnings", [])]
        table.add_row(
            name,
            r["version"] or "",
            f"[{colors.get(r['status'], 'white')}]{r['status']}[/]",
            ", ".join(r["hooks"]),
            "\n".join(problems),
        )
    Console().print(table)


@plugins_app.callback()
def _default(ctx: typer.Context) -> None:
    """List, install and create plugins (with no command: list them)."""
    if ctx.invoked_subcommand is None:
        _show_table(_reports())


@plugins_app.command("list")
def list_plugins(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of objects")] = False,
) -> None:
    """Show every plugin: name, version, hooks, status (ok, error, disabled) and error."""
    reports = _reports()
    if as_json:
        typer.echo(json.dumps(reports, indent=2))
    else:
        _show_table(reports)


# --- install --------------------------------------------------------------------------------------
def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _dist_name(target: str) -> str | None:
    """The distribution name of a requirement or a project folder."""
    path = Path(target)
    if path.is_dir():
        pyproject = path / "pyproject.toml"
        if pyproject.is_file():
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                match = re.search(r'(?m)^name\s*=\s*"([^"]+)"', pyproject.read_text())
                return match.group(1) if match else None
            return tomllib.loads(pyproject.read_text()).get("project", {}).get("name")
        return None
    match = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)", target)
    return match.group(1) if match and path.suffix not in (".whl", ".zip", ".gz") else None


@plugins_app.command("install")
def install_plugin(
    target: Annotated[str, typer.Argument(help="A package name (uffizi-medical) or a project folder")],
    editable: Annotated[bool, typer.Option("--editable", "-e", help="Install a folder in editable mode")] = False,
    upgrade: Annotated[bool, typer.Option("--upgrade", "-U", help="Upgrade if already installed")] = False,
) -> None:
    """pip-install a plugin into this environment, then show its report."""
    cmd = [sys.executable, "-m", "pip", "install"]
    if upgrade:
        cmd.append("--upgrade")
    cmd += ["--editable", target] if editable else [target]
    typer.echo("running: " + " ".join([Path(sys.executable).name, *cmd[1:]]))
    done = subprocess.run(cmd, check=False)
    if done.returncode != 0:
        typer.echo(f"pip install failed (exit status {done.returncode})", err=True)
        raise typer.Exit(done.returncode)

    # A fresh interpreter sees what pip just installed (entry points, editable finders).
    out = subprocess.run(
        [sys.executable, "-c", "from uffizi.cli.plugins_cmd import print_reports_json as p; p()"],
        capture_output=True, text=True, check=False,
    )
    if out.returncode != 0:
        typer.echo(f"installed, but listing the plugins failed:\n{out.stderr}", err=True)
        raise typer.Exit(1)
    reports = json.loads(out.stdout)
    dist = _dist_name(target)
    mine = [r for r in reports if dist and r["dist"] and _normalize(r["dist"]) == _normalize(dist)]
    if not mine:
        typer.echo(
            f"installed {dist or target}, but it declares no entry point in the group 'uffizi': "
            "it is not a Uffizi plugin (see plugins/README.md)",
            err=True,
        )
        raise typer.Exit(1)
    _show_table(mine)
    if any(r["status"] == "disabled" for r in mine):
        typer.echo("note: UFFIZI_LOAD_PLUGINS is set and does not name it; add its name to load it")
    if any(r["status"] == "error" for r in mine):
        raise typer.Exit(1)


# --- new ------------------------------------------------------------------------------------------
def template_root() -> Any:
    """The plugin template shipped inside the package (a Traversable)."""
    return resources.files("uffizi") / "templates" / "plugin"


def _walk(node: Any, rel: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found = []
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        if child.name == "__pycache__" or child.name.endswith((".pyc", ".pyo")):
            continue
        if child.is_dir():
            found += _walk(child, (*rel, child.name))
        else:
            found.append(((*rel, child.name), child))
    return found


def render_plugin(name: str, dest: Path, *, vertical: str | None = None) -> list[Path]:
    """Write the template for plugin `name` into `dest` (created; must be empty); return the
    files written."""
    variables = {
        "name": name,
        "package": f"uffizi_{name}",
        "dist": f"uffizi-{name}",
        "vertical": vertical or name,
        "title": name.replace("_", " ").title(),
        "uffizi_version": __version__,
    }
    written = []
    for rel, source in _walk(template_root()):
        parts = [variables["package"] if p == PACKAGE_PLACEHOLDER else p for p in rel]
        if parts[-1].endswith(TEMPLATE_SUFFIX):
            parts[-1] = parts[-1][: -len(TEMPLATE_SUFFIX)]
        text = source.read_text(encoding="utf-8")
        for key, value in variables.items():
            text = text.replace("{{" + key + "}}", value)
        target = dest.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written


def _check_name(name: str) -> str:
    if not _NAME_RE.match(name) or keyword.iskeyword(name):
        raise typer.BadParameter(
            f"{name!r}: use a short lowercase identifier (letters, digits, underscores; starts "
            "with a letter), e.g. 'acme' or 'acme_qc'"
        )
    return name


def _check_vertical(vertical: str | None) -> str | None:
    if vertical is not None and not _VERTICAL_RE.match(vertical):
        raise typer.BadParameter(f"{vertical!r}: use lowercase letters, digits, '-' or '_'")
    return vertical


@plugins_app.command("new")
def new_plugin(
    name: Annotated[str, typer.Argument(help="Plugin name: distribution uffizi-NAME, package uffizi_NAME", metavar="NAME",
                                        callback=_check_name)],
    directory: Annotated[Path | None, typer.Option("--dir", help="Where to write it (default ./NAME)")] = None,
    vertical: Annotated[str | None, typer.Option("--vertical", help="Pipeline namespace (default NAME)",
                                                 callback=_check_vertical)] = None,
) -> None:
    """Create a new plugin distribution from the template, ready for `pip install -e`."""
    dest = directory if directory is not None else Path(name)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise typer.BadParameter(f"{dest} exists and is not an empty folder", param_hint="--dir")
    written = render_plugin(name, dest, vertical=vertical)
    typer.echo(f"created uffizi-{name} in {dest} ({len(written)} files): pipeline "
               f"{vertical or name}/hello@v1, prompt pack {vertical or name}/objects@v1")
    typer.echo("next:")
    typer.echo(f"  pip install -e {dest}")
    typer.echo("  uffizi plugins list")
    typer.echo(f"  pytest {dest / 'tests'}")
