"""Built-in plugin: the exporters core ships, `json` (the whole result) and `png` (detections
drawn on each input image). See `uffizi.exporters`."""

from __future__ import annotations

from uffizi import hookimpl


@hookimpl
def register_exporters(register):
    from uffizi.exporters.json_export import JsonExporter
    from uffizi.exporters.png_export import AnnotatedImageExporter

    register(JsonExporter())
    register(AnnotatedImageExporter())
