"""The Platform: registries filled through the hooks, lookups, sniffing, the lazy engine and
the run-time hooks, each plugin isolated from the others."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from uffizi import hookimpl
from uffizi.contracts import AdapterSpec, Exporter, Loader, PromptPack
from uffizi.errors import (
    InvalidInput,
    PluginError,
    UnknownExporter,
    UnknownPipeline,
    UnsupportedMedia,
)
from uffizi.pipeline import Pipeline
from uffizi.platform import Platform, get_platform, reset_platform
from uffizi.settings import Settings
from uffizi.tasks import FlorenceTask, ResultShape, TaskInput


def _pipeline(pname: str, pversion: int = 1) -> Pipeline:
    class P(Pipeline):
        name = pname
        version = pversion

        def run(self, frames, *, engine, options, ctx):
            pass

    return P()


class Plug:
    """An in-process plugin made of keyword arguments: `Plug("a", pipelines=[...])`."""

    def __init__(self, name: str, **things):
        self.__name__ = name
        self.things = things
        self.calls: list[tuple] = []

    def _each(self, kind, register):
        for thing in self.things.get(kind, []):
            register(thing)

    @hookimpl
    def register_pipelines(self, register):
        self._each("pipelines", register)
        if "raise_in" in self.things:
            raise RuntimeError(self.things["raise_in"])

    @hookimpl
    def register_loaders(self, register):
        self._each("loaders", register)

    @hookimpl
    def register_exporters(self, register):
        self._each("exporters", register)

    @hookimpl
    def register_adapters(self, register):
        self._each("adapters", register)

    @hookimpl
    def register_prompts(self, register):
        self._each("prompts", register)

    @hookimpl
    def register_tasks(self, register):
        self._each("tasks", register)

    @hookimpl
    def register_routes(self, register):
        self._each("routes", register)

    @hookimpl
    def startup(self, platform):
        self.calls.append(("startup", platform))


def _platform(tmp_path, *plugins, builtins=()) -> Platform:
    return Platform(Settings(home=tmp_path, load_plugins=""), plugins=plugins, builtins=builtins)


class MagicLoader(Loader):
    def __init__(self, name: str, magic: bytes, media_type: str):
        self.name, self.magic, self.mt = name, magic, media_type
        self.media_types = (media_type,)

    def sniff(self, head, name=""):
        return self.mt if head.startswith(self.magic) else None

    def load(self, path, *, options=None, settings):
        return iter(())


class JsonExporter(Exporter):
    format = "JSON"
    media_type = "application/json"

    def export(self, result, out_dir, *, inputs=None):
        return []


def test_registries_fill_from_every_registration_hook(tmp_path):
    class Router:
        routes: list = []

    pack = PromptPack(name="kitchen/things", version=1, prompts={"cup": ("<OPEN_VOCABULARY_DETECTION>", "cup")})
    task = FlorenceTask("<FRACTURE>", "fracture", TaskInput.NONE, ResultShape.BOXES, 256,
                        "Fractures.", "Locate the fractures in the image.")
    router = Router()
    plug = Plug(
        "kitchen",
        pipelines=[_pipeline("kitchen/count"), _pipeline("kitchen/count", 2)],
        loaders=[MagicLoader("png", b"\x89PNG", "image/png")],
        exporters=[JsonExporter()],
        adapters=[AdapterSpec(name="kitchen-lora", path="/x", base_model="m")],
        prompts=[pack],
        tasks=[task],
        routes=[router],
    )
    platform = _platform(tmp_path, plug)

    assert platform.report("kitchen").status == "ok"
    assert sorted(platform.pipelines) == ["kitchen/count@v1", "kitchen/count@v2"]
    assert platform.get_pipeline("kitchen/count").version == 2
    assert platform.get_pipeline("kitchen/count@v1").version == 1
    assert platform.get_pipeline("kitchen/count@1").version == 1
    assert platform.get_exporter("json") is platform.get_exporter("JSON")
    assert platform.adapters["kitchen-lora"].base_model == "m"
    assert platform.prompts == {"kitchen/things@v1": pack}
    assert platform.get_prompts("kitchen/things") is pack
    custom = platform.tasks.get("<FRACTURE>")
    assert custom.builtin is False and platform.tasks.get("fracture") is custom
    assert platform.tasks.get("<OD>").builtin  # built-ins stay
    assert platform.routes == [("kitchen", router)]
    assert platform.owner_of("pipeline", "kitchen/count@v2") == "kitchen"
    assert plug.calls == [("startup", platform)]  # once, after registration


def test_unknown_names_list_what_is_known(tmp_path):
    platform = _platform(tmp_path, Plug("a", pipelines=[_pipeline("a/one")], exporters=[JsonExporter()]))
    with pytest.raises(UnknownPipeline, match="a/one@v1") as exc:
        platform.get_pipeline("a/two")
    assert exc.value.details == {"known": ["a/one@v1"]}
    assert exc.value.code == "unknown_pipeline"
    with pytest.raises(UnknownPipeline):
        platform.get_pipeline("a/one@v7")
    with pytest.raises(UnknownExporter, match="json"):
        platform.get_exporter("geojson")
    with pytest.raises(InvalidInput, match="unknown prompt pack"):
        platform.get_prompts("nope")


def test_duplicate_id_from_a_second_plugin_is_an_error_on_that_plugin(tmp_path):
    first = Plug("first", pipelines=[_pipeline("shared/p")])
    second = Plug("second", pipelines=[_pipeline("second/own"), _pipeline("shared/p")],
                  exporters=[JsonExporter()])
    platform = _platform(tmp_path, first, second)
    assert platform.report("first").status == "ok"
    report = platform.report("second")
    assert report.status == "error"
    assert "register_pipelines" in report.error and "already registered by plugin 'first'" in report.error
    assert "second/own@v1" not in platform.pipelines  # all or nothing per plugin
    assert "json" not in platform.exporters
    assert platform.owner_of("pipeline", "shared/p@v1") == "first"


def test_a_raising_registration_hook_drops_that_plugin_only(tmp_path):
    bad = Plug("bad", pipelines=[_pipeline("bad/p")], raise_in="kaboom")
    good = Plug("good", pipelines=[_pipeline("good/p")])
    platform = _platform(tmp_path, bad, good)
    assert platform.report("bad").status == "error"
    assert platform.report("bad").error == "register_pipelines: RuntimeError: kaboom"
    assert list(platform.pipelines) == ["good/p@v1"]
    assert bad.calls == []  # unregistered: its startup never runs
    assert good.calls == [("startup", platform)]


@pytest.mark.parametrize(
    ("things", "message"),
    [
        ({"pipelines": [type(_pipeline("x/y"))]}, "register an instance, not the class"),
        ({"pipelines": ["x/y"]}, "expected a uffizi.Pipeline"),
        ({"pipelines": [_pipeline("NoSlash")]}, "must look like 'vertical/name'"),
        ({"pipelines": [_pipeline("x/y"), _pipeline("x/y")]}, "registered twice"),
        ({"exporters": [object()]}, "expected a uffizi.Exporter"),
        ({"loaders": [object()]}, "expected a uffizi.Loader"),
        ({"adapters": [{"name": "a"}]}, "expected a uffizi.AdapterSpec"),
        ({"prompts": [PromptPack(name="p", version=0)]}, "version >= 1"),
        ({"tasks": [FlorenceTask("<OD>", "od2", TaskInput.NONE, ResultShape.BOXES, 1, "", "")]},
         "would replace a built-in task"),
        ({"routes": [object()]}, "expected a fastapi.APIRouter"),
    ],
)
def test_invalid_registrations_are_refused_with_a_reason(tmp_path, things, message):
    platform = _platform(tmp_path, Plug("bad", **things))
    report = platform.report("bad")
    assert report.status == "error"
    assert message in report.error


def test_sniff_asks_plugin_loaders_before_builtin_ones(tmp_path, monkeypatch):
    import types

    builtin = types.ModuleType("uffizi_test_builtin_loaders")

    @hookimpl
    def register_loaders(register):
        register(MagicLoader("tiff", b"II*\x00", "image/tiff"))
        register(MagicLoader("png", b"\x89PNG", "image/png"))

    builtin.register_loaders = register_loaders
    monkeypatch.setitem(sys.modules, builtin.__name__, builtin)

    class Broken(MagicLoader):
        def sniff(self, head, name=""):
            raise ValueError("sniff bug")

    geo = MagicLoader("geotiff", b"II*\x00", "image/tiff; application=geotiff")
    platform = _platform(tmp_path, Plug("agri", loaders=[Broken("broken", b"", "x/y"), geo]),
                         builtins=(builtin.__name__,))
    tif = tmp_path / "field.bin"
    tif.write_bytes(b"II*\x00" + bytes(100))
    loader, media_type = platform.sniff(tif)
    assert loader is geo and media_type == "image/tiff; application=geotiff"

    png = tmp_path / "photo.tif"  # the extension lies; the bytes decide
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(10))
    assert platform.sniff(png)[1] == "image/png"

    junk = tmp_path / "junk.png"
    junk.write_bytes(b"hello")
    with pytest.raises(UnsupportedMedia, match="image/png") as exc:
        platform.sniff(junk)
    assert "image/tiff" in exc.value.details["supported"]
    with pytest.raises(InvalidInput, match="cannot read"):
        platform.sniff(tmp_path / "missing.png")


def test_engine_is_made_once_lazily_even_from_many_threads(tmp_path):
    made = []

    class EnginePlugin:
        __name__ = "engines"

        @hookimpl
        def make_engine(self, settings):
            time.sleep(0.05)
            made.append(settings)
            return object()

    platform = _platform(tmp_path, EnginePlugin())
    assert not platform.engine_loaded and made == []
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(platform.engine())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 1 and made[0] is platform.settings
    assert len({id(e) for e in seen}) == 1 and platform.engine_loaded


def test_the_first_engine_returned_wins_over_the_trylast_default(tmp_path):
    class Default:
        __name__ = "default"

        @hookimpl(trylast=True)
        def make_engine(self, settings):
            return "default"

    class Scripted:
        __name__ = "scripted"

        @hookimpl
        def make_engine(self, settings):
            return "scripted"

    assert _platform(tmp_path, Scripted(), Default()).engine() == "scripted"
    assert _platform(tmp_path, Default()).engine() == "default"


def test_no_engine_is_a_plugin_error(tmp_path):
    with pytest.raises(PluginError, match="make_engine"):
        _platform(tmp_path).engine()


def test_notification_hooks_isolate_a_raising_plugin(tmp_path):
    seen = []

    class Bad:
        __name__ = "bad"

        @hookimpl
        def startup(self, platform):
            raise RuntimeError("startup bug")

        @hookimpl
        def before_job_run(self, job, pipeline, options):
            raise ValueError("hook bug")

    class Good:
        __name__ = "good"

        @hookimpl
        def before_job_run(self, job, pipeline):
            seen.append((job, pipeline))
            return "ok"

    platform = _platform(tmp_path, Good(), Bad())  # startup raising does not stop the build
    calls = platform.notify("before_job_run", job="j1", pipeline="p", options=None)
    assert seen == [("j1", "p")]
    assert {c.plugin: (c.result, type(c.error).__name__) for c in calls} == {
        "good": ("ok", "NoneType"), "bad": (None, "ValueError")
    }
    bad = platform.report("bad")
    assert bad.status == "ok"  # still loaded; the failures are warnings
    assert bad.warnings == ["startup: RuntimeError: startup bug", "before_job_run: ValueError: hook bug"]


def test_sanitize_input_chains_and_fails_closed(tmp_path):
    class Upper:
        __name__ = "upper"

        @hookimpl
        def sanitize_input(self, media_type, path):
            out = path.with_suffix(".clean")
            out.write_text(path.read_text().upper())
            return out

    class Skip:
        __name__ = "skip"

        @hookimpl
        def sanitize_input(self, media_type, path, options):
            return None

    src = tmp_path / "in.txt"
    src.write_text("secret")
    platform = _platform(tmp_path, Upper(), Skip())
    out = platform.sanitize_input("text/plain", src, {})
    assert out == tmp_path / "in.clean" and out.read_text() == "SECRET"
    assert _platform(tmp_path, Skip()).sanitize_input("text/plain", src) is None

    class Broken:
        __name__ = "broken"

        @hookimpl
        def sanitize_input(self, media_type, path, options):
            raise OSError("disk full")

    with pytest.raises(PluginError, match="broken") as exc:
        _platform(tmp_path, Broken(), Upper()).sanitize_input("text/plain", src)
    assert exc.value.code == "plugin_error"


def test_get_platform_is_built_once(fresh_platform):
    first = get_platform()
    assert get_platform() is first
    assert get_platform(first.settings) is first
    with pytest.raises(RuntimeError, match="reset_platform"):
        get_platform(Settings(home=Path("/elsewhere")))
    reset_platform()
    assert get_platform() is not first


def test_a_hook_calling_get_platform_while_it_is_built_fails_alone(fresh_platform, make_dist):
    make_dist("eager", """
        from uffizi import hookimpl, get_platform

        @hookimpl
        def register_pipelines(register):
            get_platform()
    """)
    platform = get_platform()  # no deadlock, no recursion
    report = platform.report("eager")
    assert report.status == "error" and "while the platform is being built" in report.error
    assert get_platform() is platform


def test_importing_the_platform_loads_no_torch_and_no_plugin():
    code = (
        "import sys, uffizi.platform, uffizi.plugins, uffizi.cli.plugins_cmd\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "assert not any(m.startswith('uffizi.builtin.') for m in sys.modules), 'plugins imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
