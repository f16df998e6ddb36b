"""Worker throughput: sub-jobs per second, read from the store while a worker process drains a
queue of waiting sub-jobs."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from bench import processes, worker_throughput
from bench.signer import Credentials
from localecs.domain.jobs import JobStatus
from localecs.store.tables import Job

_FINAL = [JobStatus.SUCCESS.value, JobStatus.FAIL.value]


def finished_tasks(engine: Engine) -> tuple[int, int]:
    """(finished, failed) sub-jobs and single jobs."""
    with engine.connect() as conn:
        done = conn.scalar(
            select(func.count()).where(Job.is_task.is_(True), Job.status.in_(_FINAL))
        )
        failed = conn.scalar(
            select(func.count()).where(Job.is_task.is_(True), Job.status == JobStatus.FAIL.value)
        )
    return done or 0, failed or 0


def waiting_tasks(engine: Engine) -> int:
    with engine.connect() as conn:
        count = conn.scalar(
            select(func.count()).where(Job.is_task.is_(True), Job.status.not_in(_FINAL))
        )
    return count or 0


def drain_rate(
    engine: Engine,
    workdir: Path,
    credentials: Credentials,
    database_url: str,
    *,
    seconds: float,
    workers: int = 4,
) -> dict[str, float]:
    """Starts a worker process on a store with waiting sub-jobs and measures how many it
    finishes per second once it has begun (its start-up is left out)."""
    if waiting_tasks(engine) == 0:
        return {"rate": float("nan"), "failed": 0.0}
    baseline, _ = finished_tasks(engine)
    server = processes.start_localecs(
        "worker", workdir, credentials, database_url=database_url, workers=workers
    )
    try:
        first = _wait_for(lambda: finished_tasks(engine)[0] > baseline, 30)
        t0, (c0, _) = time.monotonic(), finished_tasks(engine)
        deadline = t0 + seconds
        while time.monotonic() < deadline and waiting_tasks(engine) > 0:
            time.sleep(0.2)
        t1, (c1, failed) = time.monotonic(), finished_tasks(engine)
    finally:
        server.stop()
    if not first or t1 <= t0:
        return {"rate": float("nan"), "failed": float(failed)}
    return {"rate": (c1 - c0) / (t1 - t0), "failed": float(failed)}


def _wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def postgres_scale_out(database_url: str, jobs: int) -> dict[int, Any]:
    """1, 2 and 4 `localecs worker` processes on PostgreSQL (bench/worker_throughput.py)."""
    results: dict[int, Any] = {}
    for count in (1, 2, 4):
        results[count] = worker_throughput.measure(database_url, count, jobs)
    return results
