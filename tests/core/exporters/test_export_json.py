"""The json exporter: one result.json that round-trips, byte-for-byte deterministic."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from uffizi.exporters.json_export import SCHEMA, JsonExporter, result_document
from uffizi.pipeline import Artifact, RunResult
from uffizi.results import Detection, TaskResult


def _result(tmp_path: Path) -> RunResult:
    task = TaskResult(task="<OD>", text="", image_size=(640, 480), detections=[
        Detection(label="caf\u00e9 \u6771\u4eac", bbox=[1.5, 2, 30, 40], score=0.87),
        Detection(label="zone", polygons=[[0, 0, 10, 0, 10, 10]], score=0.5),
    ])
    artifact_file = tmp_path / "track.csv"
    artifact_file.write_text("a,b\n")
    return RunResult(
        pipeline="core/florence@v1",
        inputs=["photos/a.jpg"],
        records=[{"input": 0, "frame": 0, "source": "a.jpg", "results": [task.model_dump()]}],
        warnings=["a.jpg <OD>: repeated tokens"],
        artifacts=[Artifact("overlay.bin", "application/octet-stream", data=b"12345"),
                   Artifact("track.csv", "text/csv", path=artifact_file)],
    )


def test_result_json_round_trips(tmp_path):
    result = _result(tmp_path)
    (path,) = JsonExporter().export(result, tmp_path / "out")
    assert path.name == "result.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["schema"] == SCHEMA and doc["pipeline"] == "core/florence@v1"
    assert doc["inputs"] == ["photos/a.jpg"] and doc["warnings"] == result.warnings
    assert doc["artifacts"] == [
        {"name": "overlay.bin", "media_type": "application/octet-stream", "size": 5},
        {"name": "track.csv", "media_type": "text/csv", "size": 4},
    ]
    (record,) = doc["records"]
    restored = TaskResult.model_validate(record["results"][0])
    assert restored == TaskResult.model_validate(result.records[0]["results"][0])


def test_pretty_utf8_sorted_and_deterministic(tmp_path):
    a = JsonExporter().export(_result(tmp_path), tmp_path / "one")[0].read_bytes()
    b = JsonExporter().export(_result(tmp_path), tmp_path / "two")[0].read_bytes()
    assert a == b
    text = a.decode("utf-8")
    assert "caf\u00e9 \u6771\u4eac" in text  # not \u-escaped
    assert text.startswith('{\n  "artifacts"') and text.endswith("}\n")
    keys = list(json.loads(text))
    assert keys == sorted(keys)


def test_numpy_tuples_paths_and_non_finite_values_are_made_json_safe(tmp_path):
    result = RunResult(pipeline="x/y@v1", records=[{
        "n": np.int64(3), "f": np.float32(0.5), "arr": np.arange(3), "t": (1, 2),
        "p": Path("/a/b.png"), "nan": math.nan, "inf": np.float64("inf"), "ok": True,
    }])
    doc = json.loads(JsonExporter().export(result, tmp_path)[0].read_text())
    assert doc["records"] == [{"n": 3, "f": 0.5, "arr": [0, 1, 2], "t": [1, 2], "p": "/a/b.png",
                               "nan": None, "inf": None, "ok": True}]


def test_values_without_a_json_form_name_where_they_are():
    result = RunResult(pipeline="x/y@v1", records=[{"ok": 1}, {"blob": b"\x00"}])
    with pytest.raises(TypeError, match=r"records\[1\]\.blob is a bytes"):
        result_document(result)


def test_builtin_plugin_registers_both_exporters():
    from uffizi.builtin import exporters
    from uffizi.contracts import Exporter

    registered = []
    exporters.register_exporters(registered.append)
    assert sorted(e.format for e in registered) == ["json", "png"]
    assert all(isinstance(e, Exporter) and e.media_type and e.description for e in registered)
