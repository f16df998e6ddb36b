"""More than one localecs process on one store, for what a single fast process cannot show:
jobs that stay INIT (no worker yet) or RUNNING (slow workers), and state changed between
admission and execution."""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import (
    START_DEADLINE_SECONDS,
    RunningService,
    new_credentials,
    start_service,
    stop_service,
)
from tests.support import sdk


class SharedStore:
    """Several localecs processes on one store of their own: an API-only one (no workers, so
    its jobs stay INIT until a worker process exists), and worker processes started later."""

    def __init__(self, data_dir: Path, database_url: str | None = None) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.credentials = new_credentials()
        self.processes: list[RunningService] = []
        self.api = self.start("--workers", "0")

    def start(self, *extra_args: str, driver_latency: float = 0.05) -> RunningService:
        access_key, secret_key, project_id = self.credentials
        running = start_service(
            self.data_dir,
            access_key=access_key,
            secret_key=secret_key,
            project_id=project_id,
            database_url=self.database_url,
            driver_latency=driver_latency,
            extra_args=extra_args,
        )
        self.processes.append(running)
        return running

    def clients(self) -> tuple[sdk.EcsClient, sdk.EvsClient]:
        api = self.api
        args = (api.endpoint, api.access_key, api.secret_key, api.project_id)
        return sdk.ecs_client(*args), sdk.evs_client(*args)

    def close(self) -> None:
        for running in self.processes:
            if running.process.poll() is None:
                stop_service(running, kill=True)


@dataclass
class WorkerProcess:
    """A `localecs worker` process and its log."""

    process: subprocess.Popen[bytes]
    log_path: Path
    identity: str

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_worker(
    data_dir: Path,
    database_url: str | None,
    *extra_args: str,
    driver_latency: float = 0.05,
    lease_seconds: float = 3.0,
) -> WorkerProcess:
    """Starts `localecs worker` and waits until its pool runs (it logs its identity then)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / f"worker-{secrets.token_hex(4)}.log"
    args = [
        sys.executable,
        "-m",
        "localecs",
        "worker",
        "--data-dir",
        str(data_dir),
        "--driver-latency",
        str(driver_latency),
        "--lease-seconds",
        str(lease_seconds),
        *extra_args,
    ]
    if database_url:
        args += ["--database-url", database_url]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        found = re.search(r"(worker-[0-9a-f]+) started", log_path.read_text(errors="replace"))
        if found:
            return WorkerProcess(process, log_path, found.group(1))
        if process.poll() is not None:
            raise RuntimeError(f"localecs worker exited early:\n{log_path.read_text()}")
        time.sleep(0.1)
    process.kill()
    process.wait()
    raise RuntimeError(f"localecs worker did not start:\n{log_path.read_text()}")


def stop_worker(worker: WorkerProcess, *, kill: bool = False, timeout: float = 60) -> int:
    if worker.process.poll() is None:
        if kill:
            worker.process.kill()
        else:
            worker.process.terminate()
    return worker.process.wait(timeout=timeout)
