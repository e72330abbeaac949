"""Built-in plugins: core features registered through the same hooks as any plugin.

`DEFAULT_PLUGINS` names the modules; `uffizi.plugins.make_plugin_manager` imports and registers
each one before the entry-point plugins. A module that fails to import is reported like any
broken plugin (`uffizi plugins list`) and skipped.
"""

from __future__ import annotations

DEFAULT_PLUGINS: tuple[str, ...] = (
    "uffizi.builtin.engine_default",  # make_engine (trylast): the Florence-2 engine
    "uffizi.builtin.core_pipeline",  # core pipelines (one task over images)
    "uffizi.builtin.media",  # loaders: images, video, ...
    "uffizi.builtin.exporters",  # exporters: json, csv, png, ...
    "uffizi.builtin.runner_default",  # make_runner (trylast): the in-process job runner
)
