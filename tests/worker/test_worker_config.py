"""The Celery app's configuration, routing, the one task and the make_runner switch (no services)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from uffizi.settings import Settings

WORKER_SRC = Path(__file__).resolve().parents[2] / "worker" / "src" / "uffizi_worker"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, broker_url="redis://127.0.0.1:6379/15", job_timeout_s=600, lease_s=30)


def test_delivery_settings(settings):
    from uffizi_worker.celery_app import make_celery

    conf = make_celery(settings).conf
    assert conf.broker_url == "redis://127.0.0.1:6379/15"
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.result_backend is None and conf.task_ignore_result
    options = conf.broker_transport_options
    assert options["visibility_timeout"] > settings.job_timeout_s
    assert options["unacked_restore_interval"] <= 5


@pytest.mark.parametrize(("pipeline", "queue"), [
    ("medical/ct-triage@v1", "medical"), ("transport/plates", "transport"),
    ("agriculture/canopy@v2", "agriculture"), ("surveillance/zones@v1", "surveillance"),
    ("core/florence@v1", "default"), ("example/count@v1", "default"), ("", "default"),
])
def test_one_queue_per_vertical_plus_default(pipeline, queue):
    from uffizi_worker.celery_app import queue_for

    assert queue_for(pipeline) == queue


def test_exactly_one_task_and_it_carries_only_a_job_id():
    from uffizi_worker.celery_app import TASK_NAME, app
    from uffizi_worker.tasks import run_job

    app.loader.import_default_modules()
    assert [name for name in app.tasks if not name.startswith("celery.")] == [TASK_NAME]
    assert run_job.name == TASK_NAME
    decorated = [n.name for p in WORKER_SRC.rglob("*.py") for n in ast.walk(ast.parse(p.read_text()))
                 if isinstance(n, ast.FunctionDef) and any("task" in ast.unparse(d) for d in n.decorator_list)]
    assert decorated == ["run_job"]


def test_make_runner_is_celery_only_with_a_broker(tmp_path, settings):
    from uffizi_worker import plugin
    from uffizi_worker.runner import CeleryRunnerFactory

    assert plugin.make_runner(settings=Settings(home=tmp_path)) is None
    assert isinstance(plugin.make_runner(settings=settings), CeleryRunnerFactory)


def test_the_platform_picks_the_celery_runner_when_a_broker_is_set(tmp_path, settings):
    from uffizi.jobs.runner import InProcessRunnerFactory
    from uffizi.platform import Platform
    from uffizi_worker.runner import CeleryRunnerFactory

    with_broker = Platform(settings)
    without = Platform(Settings(home=tmp_path / "b"))
    try:
        assert isinstance(with_broker.pm.hook.make_runner(settings=settings), CeleryRunnerFactory)
        assert isinstance(without.pm.hook.make_runner(settings=without.settings), InProcessRunnerFactory)
    finally:
        with_broker.close()
        without.close()


def test_the_engine_is_not_made_at_import():
    import subprocess
    import sys

    code = ("import sys, uffizi_worker.tasks, uffizi_worker.celery_app; "
            "print(','.join(m for m in ('torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
