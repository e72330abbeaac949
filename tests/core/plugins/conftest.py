"""Throwaway plugin distributions for the plugin-system tests.

`make_dist` writes real installed-distribution metadata (a `*.dist-info` folder with METADATA
and entry_points.txt) plus the plugin's module into a temporary folder and puts that folder on
sys.path, so `importlib.metadata.entry_points(group="uffizi")` finds it exactly as it finds a
pip-installed plugin.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
import types
from collections.abc import Callable
from pathlib import Path

import pytest
from uffizi.platform import reset_platform
from uffizi.settings import Settings, get_settings

MakeDist = Callable[..., str]


@pytest.fixture
def make_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    modules: list[str] = []

    def make(ep_name: str, source: str | None, *, dist: str | None = None, version: str = "1.2.3",
             module: str | None = None) -> str:
        """Install plugin `ep_name` (module source `source`, or an existing `module` when
        `source` is None); return its module name."""
        module = module or f"uffizi_test_{ep_name}_{len(modules)}_{id(site) % 10_000}"
        dist = dist or f"uffizi-test-{ep_name}"
        if source is not None:
            (site / f"{module}.py").write_text(textwrap.dedent(source))
        info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[uffizi]\n{ep_name} = {module}\n")
        modules.append(module)
        importlib.invalidate_caches()
        return module

    yield make
    for module in modules:
        sys.modules.pop(module, None)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings that load every installed plugin whatever the environment says."""
    return Settings(home=tmp_path / "home", load_plugins=None)


@pytest.fixture
def fresh_platform(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """`get_platform()` rebuilt for this test from the environment, and forgotten after it."""
    monkeypatch.setenv("UFFIZI_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("UFFIZI_LOAD_PLUGINS", raising=False)
    get_settings.cache_clear()
    reset_platform()
    yield
    reset_platform()
    get_settings.cache_clear()


GOOD = """
    from uffizi import hookimpl, Pipeline

    class Hello(Pipeline):
        name = "good/hello"
        def run(self, frames, *, engine, options, ctx):
            for f in frames:
                ctx.append({"frame": f.index})

    @hookimpl
    def register_pipelines(register):
        register(Hello())
"""

BROKEN_IMPORT = """
    import a_module_that_is_not_installed_anywhere
"""

UNKNOWN_HOOK = """
    from uffizi import hookimpl

    @hookimpl
    def register_pipeline(register):  # typo: the hook is register_pipelines
        pass
"""

RAISES = """
    from uffizi import hookimpl, Pipeline

    class Half(Pipeline):
        name = "raises/half"
        def run(self, frames, *, engine, options, ctx):
            pass

    class Exp:
        format = "raises-fmt"
        media_type = "text/plain"
        def export(self, result, out_dir, *, inputs=None):
            return []

    @hookimpl
    def register_exporters(register):
        register(Exp())

    @hookimpl
    def register_pipelines(register):
        register(Half())
        raise RuntimeError("boom in register_pipelines")
"""


@pytest.fixture
def sources() -> types.SimpleNamespace:
    """Plugin module sources: GOOD, BROKEN_IMPORT, UNKNOWN_HOOK, RAISES."""
    return types.SimpleNamespace(
        GOOD=GOOD, BROKEN_IMPORT=BROKEN_IMPORT, UNKNOWN_HOOK=UNKNOWN_HOOK, RAISES=RAISES
    )
