"""The Celery app, configured from uffizi `Settings`; which queue a pipeline goes to.

- broker: `settings.broker_url` (Redis); no result backend: the job row is the truth.
- delivery: `acks_late` + `task_reject_on_worker_lost` (a message is acknowledged only after
  `execute_job` returned, and a worker lost mid-job gives it back), prefetch 1, a visibility
  timeout longer than the longest job (`job_timeout_s` + two leases + a margin) and a short
  `unacked_restore_interval`, so the messages of a worker that died whole come back within
  seconds of the visibility timeout rather than kombu's ~100 s sweep. A redelivered message
  whose job another runner holds or that is final is a no-op (the store's claim).
- queues: one per vertical (the part of the pipeline name before '/') for the known
  verticals, everything else (core, plugins, tests) on "default".

`make_celery(settings)` builds an app (the API side builds one for its own settings);
`app` is the module-level one `celery -A uffizi_worker.celery_app worker` uses, configured
from the environment (`get_settings()`). Settings are cheap to read: no engine, database or
blob store is made here (see `tasks`).
"""

from __future__ import annotations

from typing import Any

from celery import Celery

TASK_NAME = "uffizi.run_job"
DEFAULT_QUEUE = "default"
VERTICAL_QUEUES = ("medical", "transport", "agriculture", "surveillance")
ALL_QUEUES = (DEFAULT_QUEUE, *VERTICAL_QUEUES)
DEFAULT_BROKER = "redis://127.0.0.1:6379/0"


def queue_for(pipeline: str) -> str:
    """The queue of a pipeline ("medical/ct-triage@v1" -> "medical"; "core/..." -> default)."""
    vertical = (pipeline or "").split("/", 1)[0].strip().lower()
    return vertical if vertical in VERTICAL_QUEUES else DEFAULT_QUEUE


def visibility_timeout(settings: Any) -> float:
    """Longer than the longest job: a message is redelivered only when its worker is gone."""
    return float(settings.job_timeout_s) + 2 * float(settings.lease_s) + 5.0


def make_celery(settings: Any, *, main: str = "uffizi") -> Celery:
    app = Celery(main, broker=settings.broker_url or DEFAULT_BROKER, include=["uffizi_worker.tasks"])
    app.conf.update(
        result_backend=None,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=DEFAULT_QUEUE,
        task_create_missing_queues=True,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=2.0,
        # a submit while the broker is down must not hang the request: fail fast, the sweeper
        # enqueues the job later
        task_publish_retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.2,
                                   "interval_max": 0.5},
        broker_transport_options={
            "visibility_timeout": visibility_timeout(settings),
            "unacked_restore_interval": 2.0,
            "unacked_restore_throttle": 0.0,
            "socket_connect_timeout": 2.0,
            "socket_timeout": 10.0,
        },
        worker_hijack_root_logger=False,
        worker_send_task_events=True,  # Flower sees the tasks
        task_send_sent_event=True,
    )
    return app


def _app_from_env() -> Celery:
    from uffizi.settings import get_settings

    return make_celery(get_settings())


app = _app_from_env()
