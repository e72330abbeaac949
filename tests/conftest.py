"""Suite-wide rules. Fixtures for the model live in `uffizi.testing` (a pytest plugin).

In CI (CI=true) a test marked `needs_services` (PostgreSQL, Redis) that was skipped fails the
run: CI starts those services, so a skip there means something is broken.
"""

from __future__ import annotations

import os

import pytest

_skipped_services: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and "needs_services" in report.keywords:
        _skipped_services.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("CI") == "true" and _skipped_services:
        tr = session.config.pluginmanager.get_plugin("terminalreporter")
        if tr is not None:
            tr.write_line(f"CI: {len(_skipped_services)} test(s) needing PostgreSQL/Redis were "
                          f"skipped: {', '.join(_skipped_services[:5])}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
