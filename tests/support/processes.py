"""More than one localecs process on one store, for what a single fast process cannot show:
jobs that stay INIT (no worker yet) or RUNNING (slow workers), and state changed between
admission and execution."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import RunningService, new_credentials, start_service, stop_service
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
