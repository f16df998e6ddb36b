"""A scaled-out deployment for tests: API-only `serve` processes and `localecs worker`
processes on one PostgreSQL database, and SDK clients spread over the API endpoints."""

from __future__ import annotations

import itertools
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from huaweicloudsdkcore.exceptions.exceptions import (
    ConnectionException,
    ServiceResponseException,
)
from huaweicloudsdkecs.v2 import model as ecs_model

from localecs.auth.encryption import new_key_text
from tests.conftest import RunningService, new_credentials, start_service, stop_service
from tests.support import sdk
from tests.support.processes import WorkerProcess, start_worker, stop_worker

# What admission may answer when another client got there first; anything else is a bug.
RACE_CODES = {"Ecs.0057", "Ecs.0111", "Ecs.0118", "Ecs.0103"}


class Cluster:
    def __init__(self, data_dir: Path, database_url: str, *, upgrade: bool = True) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.credentials = new_credentials()
        self.apis: list[RunningService] = []
        self.workers: list[WorkerProcess] = []
        # Every API process of a deployment seals and opens secret keys with the same key.
        data_dir.mkdir(parents=True, exist_ok=True)
        self.key_file = data_dir / "secret.key"
        self.key_file.write_text(new_key_text())
        self.key_file.chmod(0o600)
        if not upgrade:
            return  # the processes upgrade at start (one does; the others wait for it)
        # The schema first, once, as the deployment guide says.
        subprocess.run(
            [sys.executable, "-m", "localecs", "db", "upgrade", "--database-url", database_url],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start_api(self, database_url: str | None = None) -> RunningService:
        access_key, secret_key, project_id = self.credentials
        api = start_service(
            self.data_dir / f"api-{len(self.apis)}",
            access_key=access_key,
            secret_key=secret_key,
            project_id=project_id,
            database_url=database_url or self.database_url,
            extra_args=("--workers", "0", "--encryption-key-file", str(self.key_file)),
        )
        self.apis.append(api)
        return api

    def start_worker(
        self, *args: str, database_url: str | None = None, driver_latency: float = 0.05
    ) -> WorkerProcess:
        worker = start_worker(
            self.data_dir / "workers",
            database_url or self.database_url,
            "--concurrency", "4", "--poll-seconds", "2", *args,
            driver_latency=driver_latency,
            lease_seconds=3,
        )  # fmt: skip
        self.workers.append(worker)
        return worker

    def live_apis(self) -> list[RunningService]:
        return [api for api in self.apis if api.process.poll() is None]

    def clients(self, n: int = 0) -> tuple[sdk.EcsClient, sdk.EvsClient]:
        """SDK clients of the n-th API process alive (modulo their number)."""
        live = self.live_apis()
        return _clients_of(live[n % len(live)])

    def close(self) -> None:
        for worker in self.workers:
            stop_worker(worker, kill=True)
        for api in self.apis:
            if api.process.poll() is None:
                stop_service(api, kill=True)


@dataclass
class Load:
    """Client threads submitting random batch attach/detach jobs over shared disks, each
    request to the next API endpoint in turn, until told to stop."""

    cluster: Cluster
    servers: list[str]
    disks: list[str]
    clients: int = 8
    accepted: list[str] = field(default_factory=list)
    # HTTP status -> how many; 0 for a connection that broke (a killed API process)
    answers: Counter[int] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for seed in range(self.clients):
            thread = threading.Thread(target=self._client, args=(seed,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.accepted)

    def _client(self, seed: int) -> None:
        rng = random.Random(seed)
        clients: dict[str, sdk.EcsClient] = {}
        for n in itertools.count():
            if self._stop.is_set():
                return
            # The API processes alive now (one may be killed and another started meanwhile).
            live = self.cluster.live_apis()
            api = live[(seed + n) % len(live)]
            if api.endpoint not in clients:
                clients[api.endpoint] = _clients_of(api)[0]
            disk = rng.choice(self.disks)
            chosen = rng.sample(self.servers, rng.randint(1, 4))
            try:
                job_id = _submit(clients[api.endpoint], disk, chosen, attach=rng.random() < 0.55)
            except ConnectionException:
                # The process died with the request in flight: the client cannot know whether
                # the job was accepted (the jobs table says, and it must be whole or absent).
                with self._lock:
                    self.answers[0] += 1
                continue
            except ServiceResponseException as error:
                with self._lock:
                    self.answers[error.status_code] += 1
                    if not (
                        error.status_code == 503
                        or (error.status_code == 400 and error.error_code in RACE_CODES)
                    ):
                        self.unexpected.append(f"{error.status_code} {error.error_code} {error}")
                if error.status_code == 503:
                    time.sleep(0.05)  # as a client should: the service asked to retry later
                continue
            with self._lock:
                self.answers[200] += 1
                self.accepted.append(job_id)


def _clients_of(api: RunningService) -> tuple[sdk.EcsClient, sdk.EvsClient]:
    args = (api.endpoint, api.access_key, api.secret_key, api.project_id)
    return sdk.ecs_client(*args), sdk.evs_client(*args)


def _submit(ecs: sdk.EcsClient, disk: str, servers: list[str], *, attach: bool) -> str:
    if attach:
        body = ecs_model.BatchAttachSharableVolumesRequestBody(
            serverinfo=[ecs_model.BatchAttachSharableVolumesOption(server_id=s) for s in servers]
        )
        request = ecs_model.BatchAttachSharableVolumesRequest(volume_id=disk, body=body)
        return str(ecs.batch_attach_sharable_volumes(request).job_id)
    detach = ecs_model.BatchDetachVolumesRequest(
        volume_id=disk, body=ecs_model.VolumeBatchDetachRequest(serverinfo=servers)
    )
    return str(ecs.batch_detach_volumes(detach).job_id)
