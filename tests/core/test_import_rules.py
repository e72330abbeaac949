"""The import rules of DESIGN.md, checked by walking the source."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "core" / "src" / "uffizi"
VERTICAL_PACKAGES = ("uffizi_medical", "uffizi_transport", "uffizi_agriculture",
                     "uffizi_surveillance", "uffizi_worker", "uffizi_example")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_core_imports_no_vertical_and_not_the_worker():
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in CORE.rglob("*.py") for name in _imports(path)
        if name.split(".")[0] in VERTICAL_PACKAGES
    ]
    assert offenders == []


def _plugin_sources() -> list[Path]:
    dirs = [ROOT / "plugins" / "example" / "src"]
    dirs += [ROOT / v / "src" for v in ("medical", "transport", "agriculture", "surveillance")]
    return [p for d in dirs if d.is_dir() for p in d.rglob("*.py")]


def test_plugins_import_only_what_uffizi_exports():
    import uffizi

    sources = _plugin_sources()
    assert sources, "plugins/example should be there"
    offenders = []
    for path in sources:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("uffizi."):
                offenders.append(f"{path.relative_to(ROOT)}: from {node.module} import ...")
            if isinstance(node, ast.ImportFrom) and node.module == "uffizi":
                offenders += [f"{path.relative_to(ROOT)}: {a.name} is not exported"
                              for a in node.names if a.name not in uffizi.__all__]
            if isinstance(node, ast.Import):
                offenders += [f"{path.relative_to(ROOT)}: import {a.name}" for a in node.names
                              if a.name.startswith("uffizi.") or a.name in ("celery", "fastapi")]
    assert offenders == []


@pytest.mark.parametrize("module", ["uffizi", "uffizi.platform", "uffizi.plugins", "uffizi.cli",
                                    "uffizi.engine", "uffizi.tasks", "uffizi.testing"])
def test_importing_loads_no_torch_and_no_plugins(module):
    code = (f"import sys, {module}; "
            "heavy = [m for m in ('torch', 'transformers', 'uffizi_example') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_every_export_of_uffizi_resolves():
    import uffizi

    for name in uffizi.__all__:
        assert getattr(uffizi, name) is not None, name


def test_building_the_platform_loads_no_torch_and_no_drawing_library():
    """Every CLI command and the API build the platform: registering plugins stays light."""
    code = ("import sys; from uffizi.platform import Platform; Platform(entry_points=False); "
            "print(','.join(m for m in ('torch', 'transformers', 'supervision') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
