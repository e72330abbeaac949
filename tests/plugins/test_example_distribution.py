"""The example plugin as a user gets it: built, pip-installed into a fresh environment, found
through its entry point, listed, and its pipeline resolvable by name."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "plugins" / "example"


@pytest.mark.slow
def test_example_installs_and_registers_through_its_entry_point(plugin_env):
    src = plugin_env.cwd / "example"
    shutil.copytree(EXAMPLE, src, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__", "build"))
    plugin_env.pip_install(str(src))  # a regular (not editable) install

    listed = json.loads(plugin_env.uffizi("plugins", "list", "--json").stdout)
    (example,) = [r for r in listed if r["name"] == "example"]
    assert example["status"] == "ok", example
    assert (example["dist"], example["version"]) == ("uffizi-example", "0.1.0")
    assert example["hooks"] == ["register_pipelines", "register_prompts"]

    found = plugin_env.run("-c", (
        "from uffizi import get_platform; p = get_platform(); pipe = p.get_pipeline('example/count'); "
        "print(pipe.id, p.get_prompts('example/kitchen').id, pipe.parse_options({}).classes)"
    ))
    assert found.stdout.strip() == "example/count@v1 example/kitchen@v1 ['cup', 'knife', 'fork', 'plate', 'bottle']"

    disabled = plugin_env.env | {"UFFIZI_LOAD_PLUGINS": ""}
    plugin_env.env = disabled
    listed = json.loads(plugin_env.uffizi("plugins", "list", "--json").stdout)
    assert [r["status"] for r in listed if r["name"] == "example"] == ["disabled"]
