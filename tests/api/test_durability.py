"""State survives restarts, and an accepted job finishes even if the process dies mid-job."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from huaweicloudsdkecs.v2 import model as ecs_model
from huaweicloudsdkevs.v2 import model as evs_model
from sqlalchemy import create_engine, text

from localecs.drivers.simulated import SimulatedDriver
from tests.conftest import RunningService, new_credentials, start_service, stop_service
from tests.support import sdk


class Deployment:
    """One data directory / database, served by successive processes."""

    def __init__(self, data_dir: Path, database_url: str | None) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.access_key, self.secret_key, self.project_id = new_credentials()
        self.current: RunningService | None = None

    def start(self, driver_latency: float, lease_seconds: float = 2.0) -> RunningService:
        self.current = start_service(
            self.data_dir,
            access_key=self.access_key,
            secret_key=self.secret_key,
            project_id=self.project_id,
            database_url=self.database_url,
            driver_latency=driver_latency,
            lease_seconds=lease_seconds,
        )
        return self.current

    def clients(self) -> tuple[sdk.EcsClient, sdk.EvsClient]:
        assert self.current is not None
        args = (self.current.endpoint, self.access_key, self.secret_key, self.project_id)
        return sdk.ecs_client(*args), sdk.evs_client(*args)

    def driver_view(self, server_id: str) -> dict[str, str]:
        assert self.current is not None
        engine = create_engine(self.current.database_url)
        try:
            return SimulatedDriver(engine, latency=0).attached_volumes(server_id)
        finally:
            engine.dispose()


@pytest.fixture
def deployment(tmp_path: Path, own_store: str | None) -> Iterator[Deployment]:
    deployment = Deployment(tmp_path / "data", own_store)
    yield deployment
    if deployment.current is not None and deployment.current.process.poll() is None:
        stop_service(deployment.current, kill=True)


def _wait_status(ecs: sdk.EcsClient, job_id: str, status: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while ecs.show_job(ecs_model.ShowJobRequest(job_id=job_id)).status != status:
        assert time.monotonic() < deadline, f"job {job_id} never reached {status}"
        time.sleep(0.02)


def _submit_batch_detach(ecs: sdk.EcsClient, volume_id: str, server_ids: list[str]) -> str:
    request = ecs_model.BatchDetachVolumesRequest(
        volume_id=volume_id, body=ecs_model.VolumeBatchDetachRequest(serverinfo=server_ids)
    )
    return str(ecs.batch_detach_volumes(request).job_id)


def _prepared(deployment: Deployment) -> tuple[list[str], str]:
    """Three servers sharing one disk."""
    ecs, evs = deployment.clients()
    servers = sdk.create_servers(ecs, count=3, name="durable")
    volume_id = sdk.create_volume(evs, shared=True)
    assert sdk.batch_attach(ecs, volume_id, servers).status == "SUCCESS"
    return servers, volume_id


def _assert_agrees(
    deployment: Deployment, volume_id: str, detached: list[str], kept: list[str]
) -> None:
    ecs, evs = deployment.clients()
    volume = evs.show_volume(evs_model.ShowVolumeRequest(volume_id=volume_id)).volume
    assert sorted(a.server_id for a in volume.attachments) == sorted(kept)
    assert volume.status == ("in-use" if kept else "available")
    for server_id in detached + kept:
        listed = ecs.list_server_block_devices(
            ecs_model.ListServerBlockDevicesRequest(server_id=server_id)
        )
        on_server = volume_id in {d.volume_id for d in listed.volume_attachments}
        assert on_server == (server_id in kept)
        assert (volume_id in deployment.driver_view(server_id)) == (server_id in kept)


def test_state_survives_a_restart(deployment: Deployment) -> None:
    deployment.start(driver_latency=0)
    servers, volume_id = _prepared(deployment)
    ecs, _ = deployment.clients()
    finished = sdk.batch_detach(ecs, volume_id, servers[:1])
    assert deployment.current is not None
    stop_service(deployment.current)

    deployment.start(driver_latency=0)
    ecs, _ = deployment.clients()
    listed = ecs.list_servers_details(ecs_model.ListServersDetailsRequest(name="durable"))
    assert sorted(s.id for s in listed.servers) == sorted(servers)
    again = ecs.show_job(ecs_model.ShowJobRequest(job_id=finished.job_id))
    assert again.status == "SUCCESS"
    assert [s.job_id for s in again.entities.sub_jobs] == [
        s.job_id for s in finished.entities.sub_jobs
    ]
    _assert_agrees(deployment, volume_id, detached=servers[:1], kept=servers[1:])


def test_job_running_at_a_crash_finishes_after_restart(deployment: Deployment) -> None:
    deployment.start(driver_latency=0)
    servers, volume_id = _prepared(deployment)
    assert deployment.current is not None
    stop_service(deployment.current)

    # Slow enough that the kill lands while sub-jobs are in the data plane.
    deployment.start(driver_latency=2.0)
    ecs, _ = deployment.clients()
    job_id = _submit_batch_detach(ecs, volume_id, servers[:2])
    _wait_status(ecs, job_id, "RUNNING")
    assert deployment.current is not None
    stop_service(deployment.current, kill=True)

    deployment.start(driver_latency=0, lease_seconds=1.0)
    ecs, _ = deployment.clients()
    job = sdk.wait_job(ecs, job_id, timeout=30)
    assert job.status == "SUCCESS", job
    assert {s.status for s in job.entities.sub_jobs} == {"SUCCESS"}
    _assert_agrees(deployment, volume_id, detached=servers[:2], kept=servers[2:])


def test_sigterm_drains_running_work(deployment: Deployment) -> None:
    deployment.start(driver_latency=0)
    servers, volume_id = _prepared(deployment)
    assert deployment.current is not None
    stop_service(deployment.current)

    deployment.start(driver_latency=1.0)
    ecs, _ = deployment.clients()
    job_id = _submit_batch_detach(ecs, volume_id, servers)
    _wait_status(ecs, job_id, "RUNNING")
    assert deployment.current is not None
    deployment.current.process.send_signal(signal.SIGTERM)
    assert deployment.current.process.wait(timeout=30) == 0

    # A long lease: had the sub-jobs been abandoned, they could not have finished by now.
    deployment.start(driver_latency=0, lease_seconds=600)
    ecs, _ = deployment.clients()
    job = ecs.show_job(ecs_model.ShowJobRequest(job_id=job_id))
    assert job.status == "SUCCESS", job
    _assert_agrees(deployment, volume_id, detached=servers, kept=[])


def test_a_task_longer_than_its_lease_keeps_it(deployment: Deployment) -> None:
    """The heartbeat renews a running task's lease, so no other worker takes it up meanwhile."""
    deployment.start(driver_latency=0)
    servers, volume_id = _prepared(deployment)
    assert deployment.current is not None
    stop_service(deployment.current)

    deployment.start(driver_latency=3.0, lease_seconds=1.0)
    ecs, _ = deployment.clients()
    job = sdk.wait_job(ecs, _submit_batch_detach(ecs, volume_id, servers[:1]), timeout=30)
    assert job.status == "SUCCESS"
    [sub_job] = job.entities.sub_jobs
    assert deployment.current is not None
    engine = create_engine(deployment.current.database_url)
    try:
        with engine.connect() as connection:
            attempts = connection.execute(
                text("SELECT attempts FROM jobs WHERE id = :id"), {"id": sub_job.job_id}
            ).scalar_one()
    finally:
        engine.dispose()
    assert attempts == 1
