"""uffizi-worker: the Celery app and its one task (run the job whose id it carries).

The core runs jobs in-process by default and never imports this package; it plugs in through
the `make_runner` hook (`uffizi_worker.plugin`) when `UFFIZI_BROKER_URL` is set. Modules:
`celery_app` (the app, configured from settings; queues), `tasks` (the one task), `runner`
(the API side: enqueue after commit, the sweeper), `plugin` (hooks: make_runner, the
`uffizi worker` command).
"""

__version__ = "0.1.0"
