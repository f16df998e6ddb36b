"""ShowJob: one job store behind the ECS and EVS clients, the job life cycle and its fields."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from huaweicloudsdkecs.v2 import model as ecs_model
from huaweicloudsdkevs.v2 import model as evs_model

from tests.conftest import RunningService, new_credentials, start_service, stop_service
from tests.support import sdk, signed_http
from tests.support.sdk import JOB_ID, JOB_TIME


def _ecs_job(ecs: sdk.EcsClient, job_id: str) -> Any:
    return ecs.show_job(ecs_model.ShowJobRequest(job_id=job_id))


def _evs_job(evs: sdk.EvsClient, job_id: str) -> Any:
    return evs.show_job(evs_model.ShowJobRequest(job_id=job_id))


def _poll(read: Callable[[], Any], until: Callable[[Any], bool], timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if until(value):
            return value
        assert time.monotonic() < deadline, f"condition not met; last value: {value}"
        time.sleep(0.02)


def test_the_same_job_through_ecs_and_evs(ecs: sdk.EcsClient, evs: sdk.EvsClient) -> None:
    option = evs_model.CreateVolumeOption(
        availability_zone="cn-north-4a", volume_type="SSD", size=11, name=sdk.unique("both")
    )
    created = evs.create_volume(
        evs_model.CreateVolumeRequest(body=evs_model.CreateVolumeRequestBody(volume=option))
    )
    sdk.wait_job(evs, created.job_id)
    from_ecs = _ecs_job(ecs, created.job_id)
    from_evs = _evs_job(evs, created.job_id)
    for field in ("status", "job_id", "job_type", "begin_time", "end_time", "error_code"):
        assert getattr(from_ecs, field) == getattr(from_evs, field), field
    assert from_evs.entities.volume_id == created.volume_ids[0]
    assert (from_evs.entities.size, from_evs.entities.volume_type) == (11, "SSD")
    assert (from_ecs.entities.sub_jobs_total, from_ecs.entities.sub_jobs) == (0, [])

    # An ECS batch job read through EVS: the same sub-jobs, each with its own id.
    servers = sdk.create_servers(ecs, count=2, name=sdk.unique("both"))
    volume_id = sdk.create_volume(evs, shared=True, name=sdk.unique("both"))
    attached = sdk.batch_attach(ecs, volume_id, servers)
    through_evs = _evs_job(evs, attached.job_id)
    assert (through_evs.status, through_evs.job_type) == ("SUCCESS", "batchAttachVolumes")
    assert [s.job_id for s in through_evs.entities.sub_jobs] == [
        s.job_id for s in attached.entities.sub_jobs
    ]
    assert {s.entities.volume_id for s in through_evs.entities.sub_jobs} == {volume_id}


def test_unknown_job_is_common_0011(
    ecs: sdk.EcsClient, evs: sdk.EvsClient, service: RunningService
) -> None:
    unknown = "0" * 32
    error = sdk.expect_error(lambda: _ecs_job(ecs, unknown), 400, "Common.0011")
    assert unknown in error.error_msg
    sdk.expect_error(lambda: _evs_job(evs, unknown), 400, "Common.0011")
    for job_id in ("not-a-job", "x" * 300, "%20", "..."):
        response = signed_http.request(service, "GET", f"/v1/{service.project_id}/jobs/{job_id}")
        signed_http.assert_service_error(response, 400, "Common.0011")


def test_sub_job_fields(ecs: sdk.EcsClient, evs: sdk.EvsClient) -> None:
    servers = sdk.create_servers(ecs, count=2, name=sdk.unique("fields"))
    volume_id = sdk.create_volume(evs, shared=True, name=sdk.unique("fields"))
    assert sdk.batch_attach(ecs, volume_id, servers).status == "SUCCESS"
    job = sdk.batch_detach(ecs, volume_id, servers)

    assert JOB_ID.match(job.job_id)
    assert JOB_TIME.match(job.begin_time) and JOB_TIME.match(job.end_time)
    assert job.begin_time <= job.end_time
    assert (job.error_code, job.fail_reason) == (None, None)
    subs = job.entities.sub_jobs
    assert job.entities.sub_jobs_total == len(subs) == 2
    assert len({job.job_id, *(s.job_id for s in subs)}) == 3
    for sub, server_id in zip(subs, servers, strict=True):
        assert JOB_ID.match(sub.job_id)
        assert (sub.status, sub.job_type) == ("SUCCESS", "detachVolume")
        assert sub.entities.server_id == server_id
        assert sub.entities.errorcode_message is None
        assert JOB_TIME.match(sub.begin_time) and JOB_TIME.match(sub.end_time)
        assert job.begin_time <= sub.begin_time <= sub.end_time <= job.end_time
        assert (sub.error_code, sub.fail_reason) == (None, None)


@pytest.fixture
def api_only_and_slow(tmp_path: Path) -> Iterator[Callable[[], RunningService]]:
    """An API-only process (no workers: its jobs stay INIT) on a store of its own, and a way
    to then start a process with slow workers on the same store (its jobs stay RUNNING)."""
    access_key, secret_key, project_id = new_credentials()
    started: list[RunningService] = []

    def start(**options: Any) -> RunningService:
        running = start_service(
            tmp_path / "data",
            access_key=access_key,
            secret_key=secret_key,
            project_id=project_id,
            **options,
        )
        started.append(running)
        return running

    start(extra_args=("--workers", "0"))
    yield lambda: start(driver_latency=0.3)
    for running in started:
        if running.process.poll() is None:
            stop_service(running, kill=True)


def test_job_goes_init_running_success(
    api_only_and_slow: Callable[[], RunningService], tmp_path: Path
) -> None:
    del tmp_path
    # The fixture started the API-only process first; reach it through its credentials.
    # (Started lazily below so that nothing can claim the job before INIT is seen.)
    raise NotImplementedError
