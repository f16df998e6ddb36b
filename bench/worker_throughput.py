"""Worker throughput and pick-up latency on PostgreSQL, with 1, 2 and 4 worker processes.

    python -m bench.worker_throughput [--database-url URL] [--jobs N] [--workers 1,2,4]

URL defaults to $LOCALECS_BENCH_POSTGRES_URL, then $LOCALECS_TEST_POSTGRES_URL; each measurement
runs in a fresh database created beside it (and dropped after). `measure()` is the entry point
for other harnesses (bench/run.py).

What is measured, per number of worker processes (each `localecs worker --concurrency 4`, the
simulated driver with no latency by default, so the figures are the control plane's own cost; with
`--driver-latency S` the data plane dominates, as with a real hypervisor, and throughput grows with
worker processes until the CPU or the database is the limit):

* sub-jobs per second: `jobs` batch-attach jobs of 8 sub-jobs each (one shared disk to 8 of 40
  servers) are admitted through an API-only `localecs serve` while no worker runs; then the
  workers start. Throughput = sub-jobs / (last sub-job's end - first sub-job's claim), both
  timestamps read from the jobs table, so worker start-up is not counted.
* pick-up latency (submit to RUNNING): with the workers idle (their fallback poll is 5 s, so
  only LISTEN/NOTIFY can make it sub-second), 40 one-server batch jobs are submitted one after
  another, each once the previous is final. For each, latency = the sub-job's begin_time
  (stamped by the worker in its claim transaction) - the parent job's begin_time (stamped in
  the admission transaction just before it commits and NOTIFY fires). Both come from the same
  machine's clock. p50 and p99 are over those samples.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkecs.v2 import EcsClient
from huaweicloudsdkecs.v2 import model as ecs_model
from huaweicloudsdkevs.v2 import EvsClient
from huaweicloudsdkevs.v2 import model as evs_model
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from localecs.store.tables import Job

SERVERS = 40
SUB_JOBS_PER_JOB = 8
# EVS takes at most 100 disks in one create call (volume.count).
MAX_VOLUMES_PER_CREATE = 100
LATENCY_SAMPLES = 40
WORKER_CONCURRENCY = 4


def measure(
    database_url: str, worker_processes: int, jobs: int, driver_latency: float = 0.0
) -> dict[str, float]:
    """Runs one measurement in a fresh database beside `database_url` (a PostgreSQL URL)."""
    with _fresh_database(database_url) as url, _Deployment(url, driver_latency) as deployment:
        return deployment.measure(worker_processes, jobs)


@contextmanager
def _fresh_database(url: str) -> Iterator[str]:
    name = f"localecs_bench_{secrets.token_hex(6)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class _Deployment:
    def __init__(self, database_url: str, driver_latency: float) -> None:
        self.url = database_url
        self.driver_latency = driver_latency
        self._stack = ExitStack()
        self._dir = Path(self._stack.enter_context(tempfile.TemporaryDirectory()))
        self._processes: list[subprocess.Popen[bytes]] = []
        self.access_key = "AK" + secrets.token_hex(9).upper()
        self.secret_key = secrets.token_urlsafe(30)
        self.project_id = secrets.token_hex(16)

    def __enter__(self) -> _Deployment:
        _run_localecs("db", "upgrade", "--database-url", self.url)
        port = _free_port()
        self.endpoint = f"http://127.0.0.1:{port}"
        self._spawn(
            "serve", "--port", str(port), "--workers", "0", "--database-url", self.url,
            "--log-level", "warning",
        )  # fmt: skip
        self._wait_for_api()
        credentials = BasicCredentials(self.access_key, self.secret_key, self.project_id)
        self.ecs = EcsClient.new_builder().with_credentials(credentials)
        self.ecs = self.ecs.with_endpoint(self.endpoint).build()
        self.evs = EvsClient.new_builder().with_credentials(credentials)
        self.evs = self.evs.with_endpoint(self.endpoint).build()
        self.engine = create_engine(self.url)
        return self

    def __exit__(self, *_: object) -> None:
        for process in self._processes:
            process.terminate()
        for process in self._processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        self.engine.dispose()
        self._stack.close()

    def measure(self, worker_processes: int, jobs: int) -> dict[str, float]:
        servers, disks = self._fleet(jobs + 1)
        latency_disk, disks = disks[0], disks[1:]
        for n, disk in enumerate(disks):
            chosen = [servers[(n * SUB_JOBS_PER_JOB + k) % SERVERS] for k in range(8)]
            self._batch_attach(disk, chosen)
        for _ in range(worker_processes):
            self._start_worker()
        sub_jobs = jobs * SUB_JOBS_PER_JOB
        self._wait_final_tasks(sub_jobs)
        with self.engine.connect() as conn:
            started, ended = conn.execute(
                select(func.min(Job.begin_time), func.max(Job.end_time)).where(
                    Job.is_task.is_(True), Job.job_type == "attachVolume"
                )
            ).one()
        assert started is not None and ended is not None
        elapsed = (ended - started).total_seconds()
        latencies = self._pickup_latencies(servers, latency_disk)
        return {
            "worker_processes": float(worker_processes),
            "sub_jobs": float(sub_jobs),
            "elapsed_seconds": elapsed,
            "sub_jobs_per_second": sub_jobs / elapsed,
            "pickup_p50_ms": statistics.median(latencies) * 1000,
            "pickup_p99_ms": _percentile(latencies, 0.99) * 1000,
        }

    # --- set-up -------------------------------------------------------------------------

    def _fleet(self, disks: int) -> tuple[list[str], list[str]]:
        """Servers and shared disks, made by a helper worker that then leaves."""
        helper = self._start_worker(driver_latency=0)
        server = ecs_model.PrePaidServer(
            image_ref="img-ubuntu-22.04", flavor_ref="s6.small.1", name="bench",
            vpcid="vpc-1", nics=[ecs_model.PrePaidServerNic(subnet_id="subnet-1")],
            root_volume=ecs_model.PrePaidServerRootVolume(volumetype="SSD", size=40),
            count=SERVERS,
        )  # fmt: skip
        created = self.ecs.create_servers(
            ecs_model.CreateServersRequest(body=ecs_model.CreateServersRequestBody(server=server))
        )
        volume_ids: list[str] = []
        volume_jobs: list[str] = []
        for first in range(0, disks, MAX_VOLUMES_PER_CREATE):
            option = evs_model.CreateVolumeOption(
                availability_zone="cn-north-4a", volume_type="SSD", size=10, multiattach=True,
                name="bench", count=min(MAX_VOLUMES_PER_CREATE, disks - first),
            )  # fmt: skip
            volumes = self.evs.create_volume(
                evs_model.CreateVolumeRequest(body=evs_model.CreateVolumeRequestBody(volume=option))
            )
            volume_ids += volumes.volume_ids
            volume_jobs.append(volumes.job_id)
        self._wait_job(created.job_id)
        for job_id in volume_jobs:
            self._wait_job(job_id)
        helper.terminate()
        helper.wait(60)
        self._processes.remove(helper)
        return list(created.server_ids), volume_ids

    def _start_worker(self, driver_latency: float | None = None) -> subprocess.Popen[bytes]:
        log = self._dir / f"worker-{secrets.token_hex(4)}.log"
        latency = self.driver_latency if driver_latency is None else driver_latency
        process = self._spawn(
            "worker", "--database-url", self.url, "--concurrency", str(WORKER_CONCURRENCY),
            "--driver-latency", str(latency), "--poll-seconds", "5", log_path=log,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not re.search(r"worker-[0-9a-f]+ started", log.read_text(errors="replace")):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"localecs worker did not start:\n{log.read_text()}")
            time.sleep(0.05)
        return process

    def _spawn(self, *args: str, log_path: Path | None = None) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "LOCALECS_ACCESS_KEY": self.access_key,
            "LOCALECS_SECRET_KEY": self.secret_key,
            "LOCALECS_PROJECT_ID": self.project_id,
        }
        log_path = log_path or self._dir / f"{args[0]}-{secrets.token_hex(4)}.log"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "localecs", *args], env=env, stdout=log, stderr=log
            )
        self._processes.append(process)
        return process

    def _wait_for_api(self) -> None:
        import httpx

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.endpoint}/_localecs/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError("localecs serve did not start")

    # --- measuring ----------------------------------------------------------------------

    def _batch_attach(self, disk: str, servers: list[str]) -> str:
        body = ecs_model.BatchAttachSharableVolumesRequestBody(
            serverinfo=[ecs_model.BatchAttachSharableVolumesOption(server_id=s) for s in servers]
        )
        request = ecs_model.BatchAttachSharableVolumesRequest(volume_id=disk, body=body)
        return str(self.ecs.batch_attach_sharable_volumes(request).job_id)

    def _batch_detach(self, disk: str, servers: list[str]) -> str:
        request = ecs_model.BatchDetachVolumesRequest(
            volume_id=disk, body=ecs_model.VolumeBatchDetachRequest(serverinfo=servers)
        )
        return str(self.ecs.batch_detach_volumes(request).job_id)

    def _wait_job(self, job_id: str, timeout: float = 300) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            job = self.ecs.show_job(ecs_model.ShowJobRequest(job_id=job_id))
            if job.status in ("SUCCESS", "FAIL"):
                return job
            if time.monotonic() > deadline:
                raise RuntimeError(f"job {job_id} not final after {timeout}s")
            time.sleep(0.01)

    def _wait_final_tasks(self, count: int, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        query = select(func.count()).where(
            Job.is_task.is_(True),
            Job.job_type == "attachVolume",
            Job.status.in_(["SUCCESS", "FAIL"]),
        )
        while True:
            with self.engine.connect() as conn:
                if int(conn.scalar(query) or 0) >= count:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{count} sub-jobs not final after {timeout}s")
            time.sleep(0.05)

    def _pickup_latencies(self, servers: list[str], disk: str) -> list[float]:
        time.sleep(1)  # the workers fall idle: each now waits on its 5 s poll or a NOTIFY
        samples = []
        for n in range(LATENCY_SAMPLES):
            server = servers[(n // 2) % SERVERS]
            submit = self._batch_attach if n % 2 == 0 else self._batch_detach
            job_id = submit(disk, [server])
            job = self._wait_job(job_id, timeout=60)
            sub = job.entities.sub_jobs[0]
            with self.engine.connect() as conn:
                admitted = conn.scalar(select(Job.begin_time).where(Job.id == job_id))
                claimed = conn.scalar(select(Job.begin_time).where(Job.id == sub.job_id))
            assert claimed is not None and admitted is not None
            samples.append((claimed - admitted).total_seconds())
        return samples


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_localecs(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "localecs", *args], check=True, capture_output=True, timeout=120
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("LOCALECS_BENCH_POSTGRES_URL")
        or os.environ.get("LOCALECS_TEST_POSTGRES_URL"),
        help="a PostgreSQL URL; measurements run in fresh databases beside it",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=60,
        help="batch jobs of 8 sub-jobs each (at most ~110: the 40 servers run out of disk slots)",
    )
    parser.add_argument("--workers", default="1,2,4", help="worker process counts to try")
    parser.add_argument(
        "--driver-latency",
        type=float,
        default=0.0,
        help="seconds per simulated data-plane operation (0: the control plane's own cost)",
    )
    args = parser.parse_args()
    if not args.database_url:
        parser.error("give --database-url (or set LOCALECS_BENCH_POSTGRES_URL)")
    print(
        f"{'workers':>7} {'sub-jobs':>8} {'seconds':>8} {'sub-jobs/s':>10} "
        f"{'pick-up p50':>12} {'pick-up p99':>12}"
    )
    for count in (int(n) for n in args.workers.split(",")):
        result = measure(args.database_url, count, args.jobs, args.driver_latency)
        print(
            f"{count:>7} {result['sub_jobs']:>8.0f} {result['elapsed_seconds']:>8.2f} "
            f"{result['sub_jobs_per_second']:>10.1f} {result['pickup_p50_ms']:>10.1f}ms "
            f"{result['pickup_p99_ms']:>10.1f}ms",
            flush=True,
        )


if __name__ == "__main__":
    main()
