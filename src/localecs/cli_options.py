"""The command-line options `serve` and `worker` share: one definition each, so the two commands
cannot drift apart in names, defaults, environment variables or limits."""

from __future__ import annotations

from pathlib import Path

import click

from localecs.config import DEFAULT_DATA_DIR

data_dir = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DATA_DIR,
    envvar="LOCALECS_DATA_DIR",
    show_default=True,
    help="Where the embedded SQLite database lives (when no --database-url is given).",
)
database_url = click.option(
    "--database-url",
    envvar="LOCALECS_DATABASE_URL",
    help="SQLAlchemy URL of the database, e.g. postgresql+psycopg://user@host/db "
    "(default: SQLite in the data directory).",
)
driver = click.option(
    "--driver",
    default="simulated",
    envvar="LOCALECS_DRIVER",
    show_default=True,
    help="The data plane: 'simulated', or 'package.module:factory' for a driver of your own.",
)
driver_latency = click.option(
    "--driver-latency",
    default=0.3,
    type=click.FloatRange(min=0),
    envvar="LOCALECS_DRIVER_LATENCY",
    show_default=True,
    help="Seconds each simulated data-plane operation takes (0 for instant).",
)
latency_profile = click.option(
    "--latency-profile",
    default="default",
    type=click.Choice(["instant", "default", "realistic", "manual"]),
    envvar="LOCALECS_LATENCY_PROFILE",
    show_default=True,
    help="How long tasks take until a profile is set at run time: default (--driver-latency per "
    "step), instant, realistic, or manual (each task waits to be released; "
    "docs/faults-and-time.md). Give every process of a deployment the same.",
)
lease_seconds = click.option(
    "--lease-seconds",
    default=30.0,
    type=click.FloatRange(min=1),
    envvar="LOCALECS_LEASE_SECONDS",
    show_default=True,
    help="How long a claimed task is a worker's, without a heartbeat, before another may take it.",
)
job_retention = click.option(
    "--job-retention",
    default=86400.0,
    type=click.FloatRange(min=0),
    envvar="LOCALECS_JOB_RETENTION",
    show_default=True,
    help="Seconds a finished job stays queryable before it is purged.",
)
log_level = click.option(
    "--log-level", default="info", envvar="LOCALECS_LOG_LEVEL", show_default=True
)
access_log = click.option(
    "--access-log/--no-access-log",
    default=True,
    envvar="LOCALECS_ACCESS_LOG",
    show_default=True,
    help="Log one line per request (logger localecs.access, at INFO).",
)
