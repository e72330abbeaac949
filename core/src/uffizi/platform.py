"""`Platform`: the plugin manager plus everything the plugins registered, built once per process.

`get_platform()` loads the plugins (`uffizi.plugins`), calls each registration hook one plugin
at a time, checks what each plugin registered (types, names, duplicates) and keeps it only when
all of it is valid: a plugin that raises or registers something invalid is reported with
status "error", its registrations are dropped and it is unregistered, and the others go on.
Then the `startup(platform)` hook runs once. The engine is made lazily on first use.

Importing this module loads neither torch nor any plugin.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from uffizi.contracts import AdapterSpec, Exporter, Loader, PromptPack
from uffizi.errors import (
    InvalidInput,
    PluginError,
    UffiziError,
    UnknownExporter,
    UnknownPipeline,
    UnsupportedMedia,
)
from uffizi.pipeline import Pipeline, check_pipeline_name
from uffizi.plugins import (
    REGISTRATION_HOOKS,
    HookCall,
    PluginReport,
    call_each,
    call_impl,
    describe_exception,
    implementations,
    make_plugin_manager,
)
from uffizi.settings import Settings, get_settings
from uffizi.tasks import BUILTIN_TASKS, FlorenceTask, TaskTable

log = logging.getLogger("uffizi.platform")

SNIFF_BYTES = 4096
_BUILTIN_TOKENS = frozenset(t.token for t in BUILTIN_TASKS)
T = TypeVar("T")


class _Refused(Exception):
    """Something a plugin registered is not acceptable (wrong type, bad name, duplicate)."""


def _instance(obj: Any, cls: type, what: str) -> None:
    if isinstance(obj, type) and issubclass(obj, cls):
        raise _Refused(f"register an instance, not the class: register({obj.__name__}())")
    if not isinstance(obj, cls):
        raise _Refused(f"expected a uffizi.{what}, got {type(obj).__name__}")


def _resolve_versioned(registry: dict[str, T], ref: str) -> T | None:
    """`name@vN` exactly (`name@N` too), or the highest version of a bare `name`."""
    ref = ref.strip()
    if "@" in ref:
        name, _, version = ref.rpartition("@")
        return registry.get(f"{name}@v{version.lstrip('vV')}")
    best: tuple[int, T] | None = None
    for key, obj in registry.items():
        name, _, version = key.rpartition("@v")
        if name == ref and version.isdigit() and (best is None or int(version) > best[0]):
            best = (int(version), obj)
    return best[1] if best else None


def _unknown(error: type[UffiziError], what: str, ref: str, registry: Iterable[str], *,
             none: str = "(none)") -> UffiziError:
    """The error for a name no plugin registered, listing the names that are."""
    known = sorted(registry)
    return error(f"unknown {what} {ref!r}; known: {', '.join(known) or none}", details={"known": known})


class Platform:
    """The registries of one process. Build it through `get_platform()`."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        plugins: Iterable[object] = (),
        builtins: Iterable[str] | None = None,
        entry_points: bool = True,
    ) -> None:
        self.settings = settings or get_settings()
        self.pm, self.reports = make_plugin_manager(
            self.settings, builtins=builtins, entry_points=entry_points, plugins=plugins
        )
        self.pipelines: dict[str, Pipeline] = {}
        self.loaders: list[Loader] = []
        self.exporters: dict[str, Exporter] = {}
        self.adapters: dict[str, AdapterSpec] = {}
        self.prompts: dict[str, PromptPack] = {}
        self.tasks = TaskTable()
        self.routes: list[tuple[str, Any]] = []
        self._owners: dict[tuple[str, str], str] = {}
        self._engine: Any = None
        self._engine_lock = threading.Lock()
        self._register_all()
        self.notify("startup", platform=self)

    # --- registration -----------------------------------------------------------------------
    def _register_all(self) -> None:
        loaders: list[tuple[str, Loader]] = []
        for report in self.reports:
            if report.status != "ok":
                continue
            plugin = self.pm.get_plugin(report.name)
            if plugin is None:
                continue
            staged = self._collect(plugin, report)
            if staged is not None:
                try:
                    self._commit(report.name, staged, loaders)
                except _Refused as exc:
                    report.fail(str(exc))
            if report.status != "ok":
                log.warning("plugin %s dropped: %s", report.name, report.error)
                self.pm.unregister(plugin)
        # Loaders are asked in pluggy's call order: plugins registered later (the verticals)
        # before the built-ins, `tryfirst` before `trylast`.
        impls = self.pm.hook.register_loaders.get_hookimpls()
        rank = {impl.plugin_name: -i for i, impl in enumerate(impls)}
        loaders.sort(key=lambda pair: rank.get(pair[0], 0))  # stable: keeps each plugin's order
        self.loaders = [loader for _, loader in loaders]

    def _collect(self, plugin: object, report: PluginReport) -> dict[str, list[Any]] | None:
        staged: dict[str, list[Any]] = {}
        for hook in REGISTRATION_HOOKS:
            items: list[Any] = []

            def register(obj: Any, _items: list[Any] = items) -> Any:
                _items.append(obj)
                return obj

            for impl in implementations(self.pm, hook, plugin):
                try:
                    call_impl(impl, register=register)
                except Exception as exc:
                    log.error("plugin %s raised in %s", report.name, hook, exc_info=exc)
                    report.fail(f"{hook}: {describe_exception(exc)}")
                    return None
            staged[hook] = items
        return staged

    def _claim(self, kind: str, key: str, plugin: str, taken: Iterable[str]) -> None:
        owner = self._owners.get((kind, key))
        if owner is not None:
            raise _Refused(f"{kind} {key!r} is already registered by plugin {owner!r}")
        if key in taken:
            raise _Refused(f"{kind} {key!r} is registered twice")

    def _commit(self, plugin: str, staged: dict[str, list[Any]], loaders: list[tuple[str, Loader]]) -> None:
        """Check everything one plugin registered, then add all of it (or nothing)."""
        pipelines: dict[str, Pipeline] = {}
        exporters: dict[str, Exporter] = {}
        adapters: dict[str, AdapterSpec] = {}
        prompts: dict[str, PromptPack] = {}
        tasks: list[FlorenceTask] = []
        routes: list[Any] = []
        new_loaders: list[Loader] = []
        hook = ""
        try:
            hook = "register_pipelines"
            for p in staged.get(hook, []):
                _instance(p, Pipeline, "Pipeline")
                check_pipeline_name(p.name)
                if not isinstance(p.version, int) or p.version < 1:
                    raise _Refused(f"pipeline {p.name!r}: version must be an integer >= 1")
                self._claim("pipeline", p.id, plugin, pipelines)
                pipelines[p.id] = p
            hook = "register_loaders"
            for loader in staged.get(hook, []):
                if isinstance(loader, type):
                    raise _Refused(f"register an instance, not the class: register({loader.__name__}())")
                if not (callable(getattr(loader, "sniff", None)) and callable(getattr(loader, "load", None))):
                    raise _Refused(f"expected a uffizi.Loader, got {type(loader).__name__}")
                new_loaders.append(loader)
            hook = "register_exporters"
            for exp in staged.get(hook, []):
                if isinstance(exp, type):
                    raise _Refused(f"register an instance, not the class: register({exp.__name__}())")
                fmt = getattr(exp, "format", None)
                if not isinstance(fmt, str) or not fmt or not callable(getattr(exp, "export", None)):
                    raise _Refused(f"expected a uffizi.Exporter with a format, got {type(exp).__name__}")
                self._claim("exporter", fmt.lower(), plugin, exporters)
                exporters[fmt.lower()] = exp
            hook = "register_adapters"
            for spec in staged.get(hook, []):
                _instance(spec, AdapterSpec, "AdapterSpec")
                self._claim("adapter", spec.name, plugin, adapters)
                adapters[spec.name] = spec
            hook = "register_prompts"
            for pack in staged.get(hook, []):
                _instance(pack, PromptPack, "PromptPack")
                if not pack.name or "@" in pack.name or not isinstance(pack.version, int) or pack.version < 1:
                    raise _Refused(f"prompt pack {pack.name!r}: needs a name without '@' and a version >= 1")
                self._claim("prompt pack", pack.id, plugin, prompts)
                for cls, value in pack.prompts.items():
                    if not (isinstance(value, tuple | list) and len(value) == 2):
                        raise _Refused(f"prompt pack {pack.id}: {cls!r} must map to (task token, text)")
                prompts[pack.id] = pack
            hook = "register_tasks"
            trial = TaskTable(tuple(t for t in self.tasks if not t.builtin))  # checks names too
            for task in staged.get(hook, []):
                _instance(task, FlorenceTask, "FlorenceTask")
                task = dataclasses.replace(task, builtin=False)
                if task.token not in _BUILTIN_TOKENS:  # replacing a built-in: trial.add says so
                    self._claim("task", task.token, plugin, [t.token for t in tasks])
                    if any(t.name == task.name for t in trial):
                        raise _Refused(f"task name {task.name!r} is already taken")
                trial.add(task)
                tasks.append(task)
            hook = "register_routes"
            for router in staged.get(hook, []):
                if not hasattr(router, "routes"):
                    raise _Refused(f"expected a fastapi.APIRouter, got {type(router).__name__}")
                routes.append(router)
        except (_Refused, InvalidInput, ValueError) as exc:
            message = exc.message if isinstance(exc, InvalidInput) else str(exc)
            raise _Refused(f"{hook}: {message}") from None

        for kind, registry, new in (
            ("pipeline", self.pipelines, pipelines),
            ("exporter", self.exporters, exporters),
            ("adapter", self.adapters, adapters),
            ("prompt pack", self.prompts, prompts),
        ):
            registry.update(new)
            self._owners.update({(kind, key): plugin for key in new})
        for task in tasks:
            self.tasks.add(task)
            self._owners[("task", task.token)] = plugin
        loaders.extend((plugin, loader) for loader in new_loaders)
        self.routes.extend((plugin, router) for router in routes)

    # --- lookups ----------------------------------------------------------------------------
    def owner_of(self, kind: str, key: str) -> str | None:
        """The plugin that registered a pipeline / exporter / adapter / prompt pack / task."""
        return self._owners.get((kind, key))

    def get_pipeline(self, ref: str) -> Pipeline:
        """`vertical/name` (the latest version) or `vertical/name@vN` (exactly that one)."""
        found = _resolve_versioned(self.pipelines, ref)
        if found is None:
            raise _unknown(UnknownPipeline, "pipeline", ref, self.pipelines,
                           none="(none: see `uffizi plugins list`)")
        return found

    def get_prompts(self, ref: str) -> PromptPack:
        """A prompt pack by `name@vN`, or the latest version of a bare `name`."""
        found = _resolve_versioned(self.prompts, ref)
        if found is None:
            raise _unknown(InvalidInput, "prompt pack", ref, self.prompts)
        return found

    def get_exporter(self, fmt: str) -> Exporter:
        found = self.exporters.get(fmt.strip().lower())
        if found is None:
            raise _unknown(UnknownExporter, "export format", fmt, self.exporters)
        return found

    def supported_media_types(self) -> list[str]:
        return sorted({mt for loader in self.loaders for mt in getattr(loader, "media_types", ())})

    def sniff(self, path: str | Path) -> tuple[Loader, str]:
        """The loader that claims this file and the media type it reports, read off the first
        4 KiB (never the file name's extension)."""
        path = Path(path)
        try:
            with path.open("rb") as fh:
                head = fh.read(SNIFF_BYTES)
        except OSError as exc:
            raise InvalidInput(f"cannot read {path.name}: {exc.strerror or exc}") from None
        for loader in self.loaders:
            try:
                media_type = loader.sniff(head, path.name)
            except Exception as exc:
                log.error("loader %s raised in sniff", getattr(loader, "name", loader), exc_info=exc)
                continue
            if media_type:
                return loader, media_type
        supported = self.supported_media_types()
        raise UnsupportedMedia(
            f"{path.name}: not a format any loader accepts; supported: "
            f"{', '.join(supported) or '(no loaders registered: see `uffizi plugins list`)'}",
            details={"supported": supported},
        )

    # --- hooks at run time ------------------------------------------------------------------
    def notify(self, hook_name: str, **kwargs: Any) -> list[HookCall]:
        """Call a notification hook (startup, before_job_run, after_job_run, on_job_error,
        register_commands) on every plugin; a raising plugin is logged and reported, never
        propagated."""
        return call_each(self.pm, hook_name, reports=self.reports, **kwargs)

    def sanitize_input(self, media_type: str, path: Path, options: Any = None) -> Path | None:
        """Run every `sanitize_input` hook, each on the previous one's output. Returns the
        replacement path, or None when no plugin replaced the input. Fails closed: a raising
        sanitizer refuses the input (`PluginError`) rather than storing it unsanitized."""
        replaced: Path | None = None
        current = Path(path)
        for impl in reversed(self.pm.hook.sanitize_input.get_hookimpls()):
            try:
                result = call_impl(impl, media_type=media_type, path=current, options=options)
            except Exception as exc:
                log.error("plugin %s raised in sanitize_input", impl.plugin_name, exc_info=exc)
                raise PluginError(
                    f"plugin {impl.plugin_name!r} could not sanitize the input: {describe_exception(exc)}",
                    details={"plugin": impl.plugin_name},
                ) from exc
            if result is not None:
                current = replaced = Path(result)
        return replaced

    def engine(self) -> Any:
        """The process's engine, made on first use by the `make_engine` hook (firstresult)."""
        if self._engine is None:
            with self._engine_lock:
                if self._engine is None:
                    engine = self.pm.hook.make_engine(settings=self.settings)
                    if engine is None:
                        raise PluginError(
                            "no plugin returned an engine from make_engine; is "
                            "uffizi.builtin.engine_default loaded? see `uffizi plugins list`"
                        )
                    if hasattr(engine, "tasks"):  # plugins' custom tasks are runnable too
                        engine.tasks = self.tasks
                    self._engine = engine
        return self._engine

    @property
    def engine_loaded(self) -> bool:
        return self._engine is not None

    def close(self) -> None:
        """Release the engine (if it has a `close`)."""
        with self._engine_lock:
            engine, self._engine = self._engine, None
        close: Callable[[], Any] | None = getattr(engine, "close", None)
        if callable(close):
            close()

    def report(self, name: str) -> PluginReport | None:
        return next((r for r in self.reports if r.name == name), None)


_platform: Platform | None = None
_platform_lock = threading.RLock()
_building = False


def get_platform(settings: Settings | None = None) -> Platform:
    """The process's platform, built on the first call (with `settings` or `get_settings()`).

    Later calls return the same one; passing different settings then is an error (call
    `reset_platform()` first, as tests do)."""
    global _platform, _building
    with _platform_lock:
        if _platform is None:
            if _building:  # a plugin's hook called get_platform() while it is being built
                raise PluginError(
                    "get_platform() was called while the platform is being built; in a hook, "
                    "use the `platform` argument of `startup` instead"
                )
            _building = True
            try:
                _platform = Platform(settings)
            finally:
                _building = False
        elif settings is not None and settings is not _platform.settings and settings != _platform.settings:
            raise RuntimeError(
                "get_platform() was already built with other settings; call reset_platform() first"
            )
        return _platform


def reset_platform() -> None:
    """Forget the cached platform (closing its engine); the next `get_platform()` rebuilds."""
    global _platform
    with _platform_lock:
        old, _platform = _platform, None
    if old is not None:
        old.close()
