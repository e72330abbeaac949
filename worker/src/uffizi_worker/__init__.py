"""uffizi-worker: the Celery app and its one task (run the job whose id it carries).

Empty until the distributed-workers issue: the core runs jobs in-process by default and never
imports this package; it plugs in through the `make_runner` hook.
"""

__version__ = "0.1.0"
