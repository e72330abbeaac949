"""The client tests use the API tests' fixtures (tests/core/api/conftest.py): `service` (a
real server in a thread), `backend`, `slow_plugin`, `make_png`."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "uffizi_tests_api_fixtures", Path(__file__).resolve().parents[1] / "api" / "conftest.py")
_api = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _api  # dataclasses look their module up
_spec.loader.exec_module(_api)

slow_plugin_dir = _api.slow_plugin_dir
slow_plugin = _api.slow_plugin
service = _api.service
make_png = _api.make_png
pg_url = _api.pg_url
backend = _api.backend
