"""The worker distribution's hooks: `make_runner` (the Celery runner when a broker is set) and
`register_commands` (`uffizi worker`).

`uffizi worker [--queues default,medical] [--concurrency N] [--pool threads]` starts a Celery
worker on `uffizi_worker.celery_app` (`celery -A uffizi_worker.celery_app worker -Q ...` is
the same). The pool is `threads` by default, for two reasons:

- one engine per process: a prefork pool would load a model copy in every child (and with
  prefetch 1 each child holds one job, so the engine's batcher never sees two at once); with
  threads, the process's single engine runs `--concurrency` jobs at once and its batcher can
  merge their frames;
- CUDA safety: nothing forks after CUDA is initialised (prefork forks children from the
  parent; the engine is never loaded in the parent, but threads leave no doubt).

`solo` (one job at a time) and `prefork` (CPU-only workers, isolation over memory) remain
available through `--pool`. The engine loads lazily on the first job (see `tasks`).
Modules are imported inside the hooks, so loading plugins imports no Celery.
"""

from __future__ import annotations

from typing import Any

from uffizi import hookimpl


@hookimpl
def make_runner(settings: Any) -> Any:
    if not getattr(settings, "broker_url", None):
        return None
    from uffizi_worker.runner import CeleryRunnerFactory

    return CeleryRunnerFactory(settings)


def worker_argv(*, queues: str, concurrency: int, pool: str, loglevel: str,
                hostname: str | None = None) -> list[str]:
    argv = ["worker", "-Q", queues, "-c", str(concurrency), "-P", pool, "--loglevel", loglevel,
            "--without-gossip", "--without-mingle"]
    if hostname:
        argv += ["-n", hostname]
    return argv


@hookimpl
def register_commands(cli: Any) -> None:
    import typer

    from uffizi_worker.celery_app import ALL_QUEUES

    @cli.command("worker")
    def worker(
        queues: str = typer.Option(",".join(ALL_QUEUES), "--queues", "-Q",
                                   help="Comma-separated queues: 'default' and/or verticals"),
        concurrency: int = typer.Option(2, "--concurrency", "-c", min=1,
                                        help="Jobs at once (threads sharing one engine)"),
        pool: str = typer.Option("threads", "--pool", "-P",
                                 help="Celery pool: threads (default), solo, prefork"),
        loglevel: str = typer.Option("INFO", "--loglevel", "-l"),
        hostname: str = typer.Option(None, "--hostname", "-n", help="Celery node name"),
    ) -> None:
        """Run jobs from the broker (UFFIZI_BROKER_URL) on this machine."""
        from uffizi.settings import get_settings

        if not get_settings().broker_url:
            typer.echo("error: set UFFIZI_BROKER_URL (e.g. redis://127.0.0.1:6379/0)", err=True)
            raise typer.Exit(2)
        from uffizi_worker.celery_app import app

        app.worker_main(worker_argv(queues=queues, concurrency=concurrency, pool=pool,
                                    loglevel=loglevel, hostname=hostname))
