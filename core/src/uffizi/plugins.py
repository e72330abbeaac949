"""The plugin manager: what loads plugins, validates them one by one, and calls their hooks.

Built-in features are plugins too: the modules named in `uffizi.builtin.DEFAULT_PLUGINS` are
imported and registered first, then every entry point in the group `uffizi` (filtered by the
`UFFIZI_LOAD_PLUGINS` allow-list; built-ins always load). A plugin that fails to import, that
pluggy refuses, or that implements a hook name no hookspec declares is unregistered and
reported in a `PluginReport`; the others go on. Nothing here raises because of a plugin.

Hooks are called through `call_each`, one hookimpl at a time, so that one raising plugin is
reported (and, for registration hooks, dropped) while the others still run.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import pluggy

from uffizi import __version__, hookspecs

if TYPE_CHECKING:
    from uffizi.settings import Settings

log = logging.getLogger("uffizi.plugins")

PROJECT = "uffizi"
ENTRY_POINT_GROUP = "uffizi"

REGISTRATION_HOOKS: tuple[str, ...] = (
    "register_pipelines",
    "register_loaders",
    "register_exporters",
    "register_adapters",
    "register_prompts",
    "register_tasks",
    "register_routes",
)
NOTIFICATION_HOOKS: tuple[str, ...] = (
    "startup",
    "before_job_run",
    "after_job_run",
    "on_job_error",
    "sanitize_input",
)
_MAX_WARNINGS = 20


@dataclass
class PluginReport:
    """What happened to one plugin: loaded (`ok`), refused (`error`) or not loaded (`disabled`)."""

    name: str
    module: str
    version: str | None = None
    dist: str | None = None
    hooks: list[str] = field(default_factory=list)
    status: str = "ok"  # "ok" | "error" | "disabled"
    error: str | None = None
    builtin: bool = False
    # Failures of notification hooks at run time (the plugin stays loaded).
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def fail(self, error: str) -> None:
        self.status = "error"
        self.error = error if self.error is None else f"{self.error}; {error}"

    def warn(self, message: str) -> None:
        if len(self.warnings) < _MAX_WARNINGS and message not in self.warnings:
            self.warnings.append(message)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def describe_exception(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def new_plugin_manager() -> pluggy.PluginManager:
    """An empty manager with the Uffizi hookspecs and no plugins."""
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def _spec_names(pm: pluggy.PluginManager) -> list[str]:
    return sorted(
        name for name, caller in vars(pm.hook).items() if not name.startswith("_") and caller.has_spec()
    )


def _check_plugin(pm: pluggy.PluginManager, plugin: object) -> None:
    """`pm.check_pending()` for one plugin: refuse hookimpls for hooks nobody declared."""
    for caller in pm.get_hookcallers(plugin) or []:
        if caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            if impl.plugin is plugin and not impl.optionalhook:
                hint = difflib.get_close_matches(caller.name, _spec_names(pm), n=1)
                also = f" (did you mean {hint[0]!r}?)" if hint else ""
                raise pluggy.PluginValidationError(
                    plugin, f"unknown hook {caller.name!r}{also}"
                )


def _hook_names(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    return sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])


def register_plugin(pm: pluggy.PluginManager, plugin: object, report: PluginReport) -> bool:
    """Register and validate one plugin; on failure unregister it and mark its report."""
    try:
        pm.register(plugin, name=report.name)
    except Exception as exc:  # PluginValidationError (bad arguments), ValueError (duplicate)
        report.fail(describe_exception(exc))
        return False
    try:
        _check_plugin(pm, plugin)
    except pluggy.PluginValidationError as exc:
        pm.unregister(plugin)
        report.fail(str(exc))
        return False
    report.hooks = _hook_names(pm, plugin)
    return True


def _load_builtin(pm: pluggy.PluginManager, module_name: str) -> PluginReport:
    report = PluginReport(
        name=module_name, module=module_name, version=__version__, dist="uffizi", builtin=True
    )
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        report.fail(f"import failed: {describe_exception(exc)}")
        log.warning("built-in plugin %s not loaded: %s", module_name, report.error)
        return report
    register_plugin(pm, module, report)
    return report


def _dist_info(ep: importlib.metadata.EntryPoint) -> tuple[str | None, str | None]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None, None
    try:
        return dist.metadata["Name"], dist.version
    except Exception:  # a broken METADATA file
        return None, None


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    seen: set[str] = set()
    found = []
    for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if ep.name in seen:  # the same distribution twice on sys.path: the first one wins
            continue
        seen.add(ep.name)
        found.append(ep)
    return found


def _load_entry_point(
    pm: pluggy.PluginManager, ep: importlib.metadata.EntryPoint, allow: set[str] | None
) -> PluginReport:
    dist, version = _dist_info(ep)
    report = PluginReport(name=ep.name, module=ep.value, version=version, dist=dist)
    if allow is not None and ep.name not in allow:
        report.status = "disabled"
        return report
    try:
        plugin = ep.load()
    except Exception as exc:
        report.fail(f"import failed: {describe_exception(exc)}")
        log.warning("plugin %s (%s) not loaded: %s", ep.name, dist, report.error)
        return report
    if register_plugin(pm, plugin, report):
        log.debug("plugin %s %s loaded: %s", ep.name, version, ", ".join(report.hooks))
    else:
        log.warning("plugin %s (%s) refused: %s", ep.name, dist, report.error)
    return report


def make_plugin_manager(
    settings: Settings,
    *,
    builtins: Iterable[str] | None = None,
    entry_points: bool = True,
    plugins: Iterable[object] = (),
) -> tuple[pluggy.PluginManager, list[PluginReport]]:
    """The manager with every plugin that loads cleanly, and one report per plugin seen.

    `builtins` defaults to `uffizi.builtin.DEFAULT_PLUGINS`; `plugins` are extra in-process
    plugin objects (tests, embedding), registered last under their `__name__` or class name.
    The reports are in registration order. Never raises because of a plugin.
    """
    if builtins is None:
        from uffizi.builtin import DEFAULT_PLUGINS

        builtins = DEFAULT_PLUGINS
    pm = new_plugin_manager()
    reports = [_load_builtin(pm, name) for name in builtins]

    if entry_points:
        allow = settings.plugin_allow_list()
        eps = _entry_points()
        reports.extend(_load_entry_point(pm, ep, allow) for ep in eps)
        for missing in sorted((allow or set()) - {ep.name for ep in eps}):
            reports.append(
                PluginReport(
                    name=missing, module="", status="error",
                    error="named in UFFIZI_LOAD_PLUGINS but no installed plugin has this name",
                )
            )

    for obj in plugins:
        name = getattr(obj, "__name__", None) or type(obj).__name__
        report = PluginReport(name=name, module=getattr(obj, "__module__", "") or name)
        register_plugin(pm, obj, report)
        reports.append(report)

    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:  # every plugin was checked already
        log.error("plugin validation: %s", exc)
    return pm, reports


# --- calling hooks one implementation at a time -------------------------------------------------
@dataclass
class HookCall:
    """The outcome of one hookimpl: its plugin's name, its result, or the exception it raised."""

    plugin: str
    result: Any = None
    error: Exception | None = None


def call_each(
    pm: pluggy.PluginManager,
    hook_name: str,
    /,
    *,
    reports: Iterable[PluginReport] | None = None,
    on_error: Callable[[HookCall], None] | None = None,
    **kwargs: Any,
) -> list[HookCall]:
    """Call every implementation of `hook_name` in pluggy's order (last registered and
    `tryfirst` first), each in isolation. A raising implementation is logged, recorded as a
    warning on its report, passed to `on_error`, and the next one still runs.
    Wrappers are not run (these hooks are plain notifications or registrations)."""
    by_name = {r.name: r for r in reports or ()}
    calls: list[HookCall] = []
    for impl in reversed(getattr(pm.hook, hook_name).get_hookimpls()):
        if impl.hookwrapper or getattr(impl, "wrapper", False):
            continue
        call = HookCall(plugin=impl.plugin_name)
        try:
            call.result = impl.function(*[kwargs[arg] for arg in impl.argnames])
        except Exception as exc:
            call.error = exc
            log.error("plugin %s raised in %s: %s", impl.plugin_name, hook_name,
                      describe_exception(exc), exc_info=exc)
            report = by_name.get(impl.plugin_name)
            if report is not None:
                report.warn(f"{hook_name}: {describe_exception(exc)}")
            if on_error is not None:
                on_error(call)
        calls.append(call)
    return calls


def implementations(pm: pluggy.PluginManager, hook_name: str, plugin: object) -> list[Any]:
    """The hookimpls of `plugin` for `hook_name` (zero or one for a module plugin)."""
    return [i for i in getattr(pm.hook, hook_name).get_hookimpls() if i.plugin is plugin]


def call_impl(impl: Any, **kwargs: Any) -> Any:
    """Call one hookimpl with the arguments it asks for, as pluggy would."""
    return impl.function(*[kwargs[arg] for arg in impl.argnames])
