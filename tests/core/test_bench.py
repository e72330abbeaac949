"""`uffizi bench engine` runs end to end (a smoke run; the figures are read, not asserted)."""

from __future__ import annotations

import re

from typer.testing import CliRunner


def test_bench_engine_prints_both_rates_and_the_ratio_last(tiny_model_dir):
    from uffizi.cli import _build

    result = CliRunner().invoke(_build(), ["bench", "engine", "--model", str(tiny_model_dir),
                                           "--images", "2", "--tokens", "4", "--batch-sizes", "1,2"])
    assert result.exit_code == 0, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert any(ln.startswith("naive") and "images/s" in ln for ln in lines)
    assert sum(ln.startswith("engine") and "images/s" in ln for ln in lines) == 2
    assert re.fullmatch(r"ratio naive_time / engine_time: \d+\.\d\d", lines[-1])
