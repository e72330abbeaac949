"""Tests of the example plugin, on the tiny random-weight Florence-2 (`tiny_engine` from the
`uffizi.testing` pytest plugin)."""

from __future__ import annotations

import importlib.metadata
import json

import numpy as np
import pytest
import uffizi_example
from uffizi import Canceled, Frame, InvalidOptions, Platform, RunContext, Settings
from uffizi_example.count import KITCHEN, CountPipeline


def _frames(n: int) -> list[Frame]:
    rng = np.random.default_rng(1)
    return [
        Frame(image=rng.integers(0, 255, (40, 56, 3), dtype=np.uint8), index=i, source="counter.png")
        for i in range(n)
    ]


def test_hooks_register_the_pack_and_the_pipeline(tmp_path):
    platform = Platform(Settings(home=tmp_path), plugins=[uffizi_example], entry_points=False)
    assert platform.report("uffizi_example").status == "ok"
    assert platform.get_pipeline("example/count").id == "example/count@v1"
    assert platform.get_prompts("example/kitchen") is KITCHEN


def test_installed_entry_point_is_named_example():
    try:
        eps = importlib.metadata.distribution("uffizi-example").entry_points
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("uffizi-example is not installed (pip install -e plugins/example)")
    assert [(ep.group, ep.name, ep.value) for ep in eps] == [("uffizi", "example", "uffizi_example")]


def test_options_default_to_the_pack_and_are_validated():
    pipeline = CountPipeline()
    assert pipeline.parse_options({}).classes == list(KITCHEN.prompts)
    assert pipeline.parse_options({"classes": [" cup", "cup", "spoon"]}).classes == ["cup", "spoon"]
    with pytest.raises(InvalidOptions, match="classes"):
        pipeline.parse_options({"classes": []})
    with pytest.raises(InvalidOptions, match="colour"):
        pipeline.parse_options({"colour": "red"})


def test_one_open_vocabulary_request_per_class():
    requests = CountPipeline().requests(["cup", "spoon"])
    assert [(r.task, r.text) for r in requests] == [
        ("<OPEN_VOCABULARY_DETECTION>", "cup"),
        ("<OPEN_VOCABULARY_DETECTION>", "spoon"),
    ]


def test_counts_every_frame_on_the_tiny_engine(tiny_engine):
    pipeline = CountPipeline()
    progress = []
    ctx = RunContext(pipeline.id, on_progress=lambda frac, done, total: progress.append((done, total)))
    options = pipeline.parse_options({"classes": ["cup", "knife"]})

    pipeline.run(_frames(3), engine=tiny_engine, options=options, ctx=ctx)

    records = ctx.result.records
    assert [r["frame"] for r in records] == [0, 1, 2]
    for r in records:
        assert set(r["counts"]) == {"cup", "knife"}
        assert all(isinstance(n, int) and n >= 0 for n in r["counts"].values())
        assert r["total"] == sum(r["counts"].values())
    assert progress == [(1, 3), (2, 3), (3, 3)]
    (artifact,) = ctx.result.artifacts
    assert artifact.name == "counts.csv"
    assert artifact.data.decode().splitlines()[0] == "frame,cup,knife"
    json.dumps(records)


def test_cancel_stops_between_frames(tiny_engine):
    pipeline = CountPipeline()
    ctx = RunContext(pipeline.id)
    ctx.cancel()
    with pytest.raises(Canceled):
        pipeline.run(_frames(2), engine=tiny_engine, options=pipeline.parse_options({}), ctx=ctx)
    assert ctx.result.records == []


class _Stream:
    """Frames as the runner hands them over: an iterable (no len) that knows how many come."""

    def __init__(self, frames: list[Frame]) -> None:
        self.frames, self.total = frames, len(frames)

    def __iter__(self):
        return iter(self.frames)


def test_progress_knows_the_total_of_the_runners_frame_stream(tiny_engine):
    pipeline = CountPipeline()
    progress = []
    ctx = RunContext(pipeline.id, on_progress=lambda frac, done, total: progress.append((frac, total)))
    pipeline.run(_Stream(_frames(2)), engine=tiny_engine,
                 options=pipeline.parse_options({"classes": ["cup"]}), ctx=ctx)
    assert progress == [(0.5, 2), (1.0, 2)]
