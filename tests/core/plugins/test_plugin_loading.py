"""Loading plugins: built-ins first, then entry points, each validated on its own."""

from __future__ import annotations

import sys
import textwrap
import types

import pluggy
from uffizi import hookimpl
from uffizi.platform import Platform
from uffizi.plugins import make_plugin_manager
from uffizi.settings import Settings


def _by_name(reports):
    return {r.name: r for r in reports}


def test_hookimpl_is_the_uffizi_marker():
    import uffizi

    assert uffizi.hookimpl is hookimpl
    assert hookimpl.project_name == "uffizi"


def test_good_plugin_loads_from_its_entry_point(sources, make_dist, settings):
    module = make_dist("good", sources.GOOD, version="2.0.1")
    pm, reports = make_plugin_manager(settings, builtins=())
    report = _by_name(reports)["good"]
    assert report.status == "ok" and report.error is None
    assert (report.module, report.version, report.dist) == (module, "2.0.1", "uffizi-test-good")
    assert report.hooks == ["register_pipelines"]
    assert report.builtin is False
    assert pm.get_plugin("good") is sys.modules[module]


def test_broken_plugins_are_reported_and_skipped(sources, make_dist, settings):
    make_dist("good", sources.GOOD)
    make_dist("noimport", sources.BROKEN_IMPORT, version="0.0.9")
    make_dist("typo", sources.UNKNOWN_HOOK)
    make_dist("raises", sources.RAISES)

    platform = Platform(settings, builtins=())  # never raises because of a plugin
    reports = _by_name(platform.reports)

    assert reports["good"].status == "ok"
    assert platform.get_pipeline("good/hello").id == "good/hello@v1"

    noimport = reports["noimport"]
    assert noimport.status == "error" and noimport.version == "0.0.9"
    assert "import failed" in noimport.error and "a_module_that_is_not_installed_anywhere" in noimport.error

    typo = reports["typo"]
    assert typo.status == "error"
    assert "unknown hook 'register_pipeline'" in typo.error and "register_pipelines" in typo.error
    assert platform.pm.get_plugin("typo") is None

    raises = reports["raises"]
    assert raises.status == "error"
    assert "register_pipelines" in raises.error and "boom in register_pipelines" in raises.error
    # everything it registered is dropped, in every hook, and it is no longer registered
    assert "raises/half@v1" not in platform.pipelines
    assert "raises-fmt" not in platform.exporters
    assert platform.pm.get_plugin("raises") is None

    platform.pm.check_pending()  # what is left is consistent


def test_hookimpl_with_an_argument_the_spec_lacks_is_refused(sources, make_dist, settings):
    make_dist("badargs", """
        from uffizi import hookimpl

        @hookimpl
        def register_pipelines(register, colour):
            pass
    """)
    make_dist("good", sources.GOOD)
    pm, reports = make_plugin_manager(settings, builtins=())
    assert _by_name(reports)["badargs"].status == "error"
    assert "colour" in _by_name(reports)["badargs"].error
    assert _by_name(reports)["good"].status == "ok"


def test_optionalhook_for_an_unknown_hook_is_allowed(make_dist, settings):
    make_dist("optional", """
        from uffizi import hookimpl

        @hookimpl(optionalhook=True)
        def a_hook_from_the_future(register):
            pass
    """)
    _, reports = make_plugin_manager(settings, builtins=())
    assert _by_name(reports)["optional"].status == "ok"


def test_allow_list_loads_only_named_plugins(sources, make_dist, tmp_path):
    make_dist("good", sources.GOOD)
    make_dist("other", sources.GOOD.replace("good/hello", "other/hello"))
    pm, reports = make_plugin_manager(Settings(home=tmp_path, load_plugins="good, nowhere"), builtins=())
    reports = _by_name(reports)
    assert reports["good"].status == "ok"
    assert reports["other"].status == "disabled" and reports["other"].version == "1.2.3"
    assert pm.get_plugin("other") is None
    assert reports["nowhere"].status == "error" and "no installed plugin" in reports["nowhere"].error


def test_empty_allow_list_loads_no_external_plugin_but_all_builtins(sources, make_dist, tmp_path, monkeypatch):
    builtin = types.ModuleType("uffizi_test_builtin_mod")
    exec(textwrap.dedent(sources.GOOD.replace("good/hello", "core/hello")), builtin.__dict__)
    monkeypatch.setitem(sys.modules, "uffizi_test_builtin_mod", builtin)
    make_dist("good", sources.GOOD)

    pm, reports = make_plugin_manager(Settings(home=tmp_path, load_plugins=""),
                                      builtins=("uffizi_test_builtin_mod",))
    reports = _by_name(reports)
    assert reports["good"].status == "disabled"
    assert reports["uffizi_test_builtin_mod"].status == "ok"
    assert reports["uffizi_test_builtin_mod"].builtin is True
    assert pm.get_plugin("uffizi_test_builtin_mod") is builtin


def test_missing_builtin_is_reported_not_raised(settings):
    _, reports = make_plugin_manager(settings, builtins=("uffizi.builtin.no_such_module",),
                                     entry_points=False)
    (report,) = reports
    assert report.status == "error" and report.builtin is True
    assert "no_such_module" in report.error


def test_default_plugins_include_the_default_engine(settings):
    from uffizi.builtin import DEFAULT_PLUGINS

    assert "uffizi.builtin.engine_default" in DEFAULT_PLUGINS
    pm, reports = make_plugin_manager(settings, entry_points=False)
    assert [r.name for r in reports] == list(DEFAULT_PLUGINS)
    assert _by_name(reports)["uffizi.builtin.engine_default"].hooks == ["make_engine"]
    (impl,) = [i for i in pm.hook.make_engine.get_hookimpls() if i.plugin_name.startswith("uffizi.")]
    assert impl.trylast


def test_in_process_plugins_register_like_entry_points(settings):
    class Plugin:
        __name__ = "inproc"

        @hookimpl
        def register_pipelines(self, register):
            pass

    pm, reports = make_plugin_manager(settings, builtins=(), entry_points=False, plugins=[Plugin()])
    assert _by_name(reports)["inproc"].hooks == ["register_pipelines"]


def test_same_module_under_two_entry_points_is_reported(sources, make_dist, settings):
    module = make_dist("good", sources.GOOD)
    make_dist("zz_alias", None, module=module)  # loads after "good": names are sorted
    _, reports = make_plugin_manager(settings, builtins=())
    reports = _by_name(reports)
    assert reports["good"].status == "ok"
    assert reports["zz_alias"].status == "error" and "already registered" in reports["zz_alias"].error


def test_check_pending_passes_after_loading(sources, make_dist, settings):
    make_dist("typo", sources.UNKNOWN_HOOK)
    pm, _ = make_plugin_manager(settings, builtins=())
    pm.check_pending()
    assert isinstance(pm, pluggy.PluginManager) and pm.project_name == "uffizi"
