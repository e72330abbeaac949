"""Built-in plugin: the default `make_runner`, the in-process runner (threads in this process).

`make_runner(settings)` only gets settings, while a runner needs the platform, the database
and the blob store, which exist later. So the hook returns a factory, an object with
`bind(platform, db, blobs) -> runner`; the runner has `start()`, `notify(job_id=None)` (after
each submit) and `stop(timeout=None)`. `uffizi serve` does:

    factory = platform.pm.hook.make_runner(settings=settings)
    runner = factory.bind(platform, db, blobs)
    runner.start()

A plugin's runner (the worker distribution's Celery runner when a broker is set) returns a
factory of the same shape. This one is `trylast`, so any plugin that returns one wins; the
runner module is imported inside the hook, so loading plugins imports no store.
"""

from __future__ import annotations

from uffizi import hookimpl


@hookimpl(trylast=True)
def make_runner(settings):
    from uffizi.jobs.runner import InProcessRunnerFactory

    return InProcessRunnerFactory(settings)
