"""Time under control: manual mode shows every state without sleeping; latency profiles."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from huaweicloudsdkecs.v2 import model as ecs_model
from huaweicloudsdkevs.v2 import model as evs_model

from localecs.testing import ControlError, LocalEcs
from tests.conftest import new_credentials, start_service, stop_service
from tests.control.conftest import Controlled
from tests.support import sdk


def _job(c: Controlled, job_id: str) -> Any:
    return c.ecs.show_job(ecs_model.ShowJobRequest(job_id=job_id))


def _statuses(job: Any) -> list[str]:
    return [sub.status for sub in job.entities.sub_jobs]


def _wait_statuses(c: Controlled, job_id: str, wanted: list[str]) -> Any:
    """Polls ShowJob until the sub-jobs have exactly these statuses (each release is acted on
    by a worker a moment later); fails after a deadline, never sleeps a fixed time."""
    deadline = time.monotonic() + 20
    while True:
        job = _job(c, job_id)
        if _statuses(job) == wanted:
            return job
        assert time.monotonic() < deadline, (_statuses(job), wanted)
        time.sleep(0.02)


def _shared_on(c: Controlled, count: int) -> tuple[str, list[str]]:
    servers = sdk.create_servers(c.ecs, count=count, name=sdk.unique("m"))
    volume_id = sdk.create_volume(c.evs, shared=True, name=sdk.unique("m"))
    assert sdk.batch_attach(c.ecs, volume_id, servers).status == "SUCCESS"
    return volume_id, servers


def _batch_detach(c: Controlled, volume_id: str, servers: list[str]) -> str:
    request = ecs_model.BatchDetachVolumesRequest(
        volume_id=volume_id, body=ecs_model.VolumeBatchDetachRequest(serverinfo=servers)
    )
    return str(c.ecs.batch_detach_volumes(request).job_id)


def test_manual_mode_shows_init_running_and_success_with_the_disk_detaching_between(
    controlled: Controlled,
) -> None:
    c = controlled
    volume_id, servers = _shared_on(c, 2)
    c.cloud.latency("manual")

    job_id = _batch_detach(c, volume_id, servers)

    job = _job(c, job_id)
    assert (job.status, _statuses(job)) == ("INIT", ["INIT", "INIT"])
    assert sdk.show_volume(c.evs, volume_id).status == "detaching"
    assert {h["hold"] for h in c.cloud.holds()} == {"start"}

    assert len(c.cloud.release(job_id=job_id)) == 2
    job = _wait_statuses(c, job_id, ["RUNNING", "RUNNING"])
    assert job.status == "RUNNING"
    assert sdk.show_volume(c.evs, volume_id).status == "detaching"
    # Nothing happened at the data plane yet: both servers still list the disk.
    assert all(volume_id in sdk.attached_volume_ids(c.ecs, s) for s in servers)
    assert {h["hold"] for h in c.cloud.holds()} == {"run"}

    assert len(c.cloud.release(job_id=job_id)) == 2
    job = sdk.wait_job(c.ecs, job_id)
    assert (job.status, _statuses(job)) == ("SUCCESS", ["SUCCESS", "SUCCESS"])
    assert sdk.show_volume(c.evs, volume_id).status == "available"
    assert c.cloud.holds() == []


def test_manual_mode_releases_one_by_one_and_by_match(controlled: Controlled) -> None:
    c = controlled
    volume_id, servers = _shared_on(c, 3)
    c.cloud.latency("manual")
    job_id = _batch_detach(c, volume_id, servers)

    [first] = c.cloud.release(limit=1)
    assert first["server_id"] == servers[0]
    _wait_statuses(c, job_id, ["RUNNING", "INIT", "INIT"])
    [third] = c.cloud.release(server_id=servers[2])
    assert third["hold"] == "start"
    _wait_statuses(c, job_id, ["RUNNING", "INIT", "RUNNING"])

    # Let the first one finish: the parent stays RUNNING while the others wait.
    [done] = c.cloud.release(server_id=servers[0])
    assert done["hold"] == "run"
    job = _wait_statuses(c, job_id, ["SUCCESS", "INIT", "RUNNING"])
    assert job.status == "RUNNING"
    assert sorted(a.server_id for a in sdk.show_volume(c.evs, volume_id).attachments) == sorted(
        servers[1:]
    )

    # A release that matches nothing releases nothing.
    assert c.cloud.release(server_id="00000000-0000-4000-8000-000000000000") == []
    # Releasing the job moves each held sub-job one step: the waiting one starts, the
    # running one finishes.
    assert {h["hold"] for h in c.cloud.release(job_id=job_id)} == {"start", "run"}
    _wait_statuses(c, job_id, ["SUCCESS", "RUNNING", "SUCCESS"])
    c.cloud.release(job_id=job_id)
    assert sdk.wait_job(c.ecs, job_id).status == "SUCCESS"


def test_the_latency_profile_can_be_changed_at_run_time(controlled: Controlled) -> None:
    c = controlled
    assert c.cloud.latency()["profile"] == "default"
    c.cloud.latency("instant", operations={"createVolume": {"seconds": 1.2}})
    assert c.cloud.latency() == {
        "profile": "instant",
        "operations": {"createVolume": {"distribution": "fixed", "seconds": 1.2}},
    }
    response = c.evs.create_volume(
        evs_model.CreateVolumeRequest(
            body=evs_model.CreateVolumeRequestBody(
                volume=evs_model.CreateVolumeOption(
                    availability_zone="cn-north-4a", volume_type="SSD", size=10
                )
            )
        )
    )
    job = sdk.wait_job(c.evs, response.job_id)
    parse = datetime.fromisoformat
    assert (parse(job.end_time) - parse(job.begin_time)).total_seconds() >= 1.2
    # A reset goes back to the profile the service started with.
    c.cloud.reset()
    assert c.cloud.latency()["profile"] == "default"


@pytest.mark.parametrize(
    "body",
    [
        {"profile": "fast"},
        {"profile": "manual", "operations": {"teleport": {"seconds": 1}}},
        {"profile": "default", "operations": {"detachVolume": {"seconds": -1}}},
        {"profile": "default", "operations": {"detachVolume": {"distribution": "zipf"}}},
        {"profile": "default", "operations": {"detachVolume": {"distribution": "uniform"}}},
        {"profile": "default", "colour": "blue"},
        {"profile": "default", "operations": []},
    ],
)
def test_a_bad_latency_setting_is_refused_and_changes_nothing(
    controlled: Controlled, body: dict[str, Any]
) -> None:
    with pytest.raises(ControlError) as raised:
        controlled.cloud._control.call("PUT", "/_localecs/latency", body)
    assert (raised.value.status, raised.value.code) == (400, "LocalEcs.0005")
    assert raised.value.request_id
    assert controlled.cloud.latency()["profile"] == "default"


@pytest.fixture
def realistic(tmp_path: Path) -> Iterator[LocalEcs]:
    access_key, secret_key, project_id = new_credentials()
    running = start_service(
        tmp_path,
        access_key=access_key,
        secret_key=secret_key,
        project_id=project_id,
        extra_args=("--latency-profile", "realistic"),
    )
    yield LocalEcs(
        endpoint=running.endpoint,
        access_key=access_key,
        secret_key=secret_key,
        project_id=project_id,
    )
    stop_service(running)


def test_serve_latency_profile_selects_the_profile_at_start(realistic: LocalEcs) -> None:
    assert realistic.latency()["profile"] == "realistic"
    # A realistic create takes seconds: it is still in flight when first polled.
    evs = realistic.evs_client()
    response = evs.create_volume(
        evs_model.CreateVolumeRequest(
            body=evs_model.CreateVolumeRequestBody(
                volume=evs_model.CreateVolumeOption(
                    availability_zone="cn-north-4a", volume_type="SSD", size=10
                )
            )
        )
    )
    job = evs.show_job(evs_model.ShowJobRequest(job_id=response.job_id))
    assert job.status in ("INIT", "RUNNING")


def test_a_reset_while_tasks_are_held_leaves_a_working_service(controlled: Controlled) -> None:
    c = controlled
    volume_id, servers = _shared_on(c, 2)
    c.cloud.latency("manual")
    job_id = _batch_detach(c, volume_id, servers)
    c.cloud.release(job_id=job_id)
    c.cloud.wait_held(count=2, hold="run")

    c.cloud.reset()

    assert c.cloud.holds() == []
    assert c.cloud.latency()["profile"] == "default"
    # The workers that held the tasks let them go; new work runs normally.
    volume_id, servers = _shared_on(c, 2)
    assert sdk.batch_detach(c.ecs, volume_id, servers).status == "SUCCESS"
