"""`localecs worker`: a process that runs workers only, beside any number of `serve` processes.

It shares the queue with every other process on the same database. SIGTERM (or Ctrl-C) drains:
no new claims, the tasks in hand finish and are recorded, and any still running after
`--drain-seconds` are released to other workers; then it exits 0. SIGKILL is safe too: the
leases of the tasks it held expire and other workers take them up.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType

import click

from localecs import cli_options as options
from localecs.config import Settings
from localecs.drivers.loading import DriverLoadError
from localecs.runtime import build_worker, settle_heap

log = logging.getLogger("localecs.worker")


@click.command()
@options.data_dir
@options.database_url
@click.option(
    "--concurrency",
    default=4,
    type=click.IntRange(min=1),
    envvar="LOCALECS_WORKER_CONCURRENCY",
    show_default=True,
    help="Tasks this process runs at once (one thread each).",
)
@options.lease_seconds
@click.option(
    "--poll-seconds",
    default=5.0,
    type=click.FloatRange(min=0.05),
    envvar="LOCALECS_POLL_SECONDS",
    show_default=True,
    help="How often an idle worker looks for work unwoken (PostgreSQL wakes it by NOTIFY).",
)
@click.option(
    "--drain-seconds",
    default=30.0,
    type=click.FloatRange(min=0),
    envvar="LOCALECS_DRAIN_SECONDS",
    show_default=True,
    help="On SIGTERM, how long running tasks may take to finish before they are released.",
)
@options.driver
@options.driver_latency
@options.latency_profile
@options.job_retention
@options.log_level
def worker(
    data_dir: Path,
    database_url: str | None,
    concurrency: int,
    lease_seconds: float,
    poll_seconds: float,
    drain_seconds: float,
    driver: str,
    driver_latency: float,
    latency_profile: str,
    job_retention: float,
    log_level: str,
) -> None:
    """Run workers only (no HTTP server) on the shared database."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    settings = Settings(
        data_dir=data_dir,
        database_url=database_url,
        driver=driver,
        driver_latency=driver_latency,
        latency_profile=latency_profile,
        workers=concurrency,
        lease_seconds=lease_seconds,
        poll_seconds=poll_seconds,
        drain_seconds=drain_seconds,
        job_retention_seconds=job_retention,
    )
    try:
        runtime = build_worker(settings)
    except DriverLoadError as error:
        raise click.BadParameter(str(error), param_hint="--driver") from None
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("%s: draining", signal.Signals(signum).name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    settle_heap()
    runtime.workers.start()
    log.info(
        "%s started: %d workers, lease %.0fs, %s",
        runtime.workers.pool.identity,
        concurrency,
        lease_seconds,
        "woken by NOTIFY" if runtime.workers.listener is not None else "polling",
    )
    # A timed wait, so the main thread returns to the interpreter and runs the signal handler.
    while not stop.wait(0.5):
        pass
    drained = runtime.stop()
    log.info("%s stopped (%s)", runtime.workers.pool.identity, "drained" if drained else "released")
