"""Every hookspec has a docstring and a section in the plugin author guide showing its exact
signature, so the guide cannot drift from `uffizi.hookspecs`."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
from uffizi import hookspecs

GUIDE = Path(__file__).resolve().parents[3] / "plugins" / "README.md"


def _hookspecs() -> list[tuple[str, object]]:
    return [
        (name, fn)
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(fn, "uffizi_spec")
    ]


def _section(text: str, name: str) -> str | None:
    match = re.search(rf"^#+ `?{re.escape(name)}`?\s*$(.*?)(?=^#+ |\Z)", text, re.M | re.S)
    return match.group(1) if match else None


def test_there_are_hookspecs():
    names = {name for name, _ in _hookspecs()}
    assert {"register_pipelines", "make_engine", "sanitize_input", "startup"} <= names


@pytest.mark.parametrize(("name", "fn"), _hookspecs(), ids=lambda v: v if isinstance(v, str) else "")
def test_hookspec_has_a_docstring(name, fn):
    assert (fn.__doc__ or "").strip(), f"hookspec {name} needs a docstring"


@pytest.mark.parametrize(("name", "fn"), _hookspecs(), ids=lambda v: v if isinstance(v, str) else "")
def test_hookspec_has_a_guide_section_with_its_exact_signature(name, fn):
    section = _section(GUIDE.read_text(), name)
    assert section is not None, f"plugins/README.md needs a section headed `{name}`"
    signature = f"def {name}{inspect.signature(fn)}:"
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks and blocks[0].strip() == signature, (
        f"the section `{name}` must open with a code block holding exactly {signature!r}"
    )
    firstresult = fn.uffizi_spec["firstresult"]
    assert ("firstresult" in section) or not firstresult, f"say that {name} is firstresult"
