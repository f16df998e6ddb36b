"""ShowJob: one job store behind the ECS and EVS clients, the job life cycle and its fields."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkecs.v2 import model as ecs_model
from huaweicloudsdkevs.v2 import model as evs_model

from tests.conftest import RunningService, new_credentials, start_service, stop_service
from tests.support import sdk, signed_http
from tests.support.processes import SharedStore
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


def _create_request(name: str, count: int) -> ecs_model.CreateServersRequest:
    body = ecs_model.CreateServersRequestBody(server=sdk.server_spec(name, count))
    return ecs_model.CreateServersRequest(body=body)


def test_job_goes_init_running_success(shared_store: SharedStore) -> None:
    ecs, evs = shared_store.clients()
    created = ecs.create_servers(_create_request("life", count=2))
    job_id = created.job_id

    # No worker exists yet: the job and every sub-job are INIT, nothing has ended.
    waiting = _ecs_job(ecs, job_id)
    assert (waiting.status, waiting.job_type, waiting.end_time) == ("INIT", "createServer", "")
    assert JOB_TIME.match(waiting.begin_time)
    assert waiting.entities.sub_jobs_total == 2
    for sub in waiting.entities.sub_jobs:
        assert (sub.status, sub.end_time, sub.error_code) == ("INIT", "", None)
        assert JOB_TIME.match(sub.begin_time)
    assert {s.entities.server_id for s in waiting.entities.sub_jobs} == set(created.server_ids)
    building = sdk.show_server(ecs, created.server_ids[0])
    assert (building.status, building.os_ext_st_svm_state) == ("BUILD", "building")
    # A server still being built can be neither stopped nor started.
    sdk.expect_error(lambda: sdk.stop_servers(ecs, created.server_ids[:1]), 400, "Ecs.0100")

    # A slow worker process picks it up: RUNNING, end_time still empty.
    shared_store.start(driver_latency=0.3)
    running = _poll(lambda: _ecs_job(ecs, job_id), lambda j: j.status != "INIT")
    assert (running.status, running.end_time) == ("RUNNING", "")
    assert running.begin_time == waiting.begin_time
    assert "RUNNING" in {s.status for s in running.entities.sub_jobs}
    for sub in running.entities.sub_jobs:
        assert (sub.end_time == "") == (sub.status in ("INIT", "RUNNING"))
    assert _evs_job(evs, job_id).status in ("RUNNING", "SUCCESS")

    done = _poll(lambda: _ecs_job(ecs, job_id), lambda j: j.status in sdk.FINAL)
    assert done.status == "SUCCESS"
    assert JOB_TIME.match(done.end_time) and done.end_time >= done.begin_time
    for sub in done.entities.sub_jobs:
        assert sub.status == "SUCCESS" and JOB_TIME.match(sub.end_time)
    for server_id in created.server_ids:
        assert sdk.show_server(ecs, server_id).status == "ACTIVE"

    # While a batch attach runs the disk is "attaching", while a detach runs "detaching"
    # (set at admission, so no timing is involved); after each, "in-use".
    servers = list(created.server_ids)
    volume_id = sdk.create_volume(evs, shared=True, name="life")
    serverinfo = [ecs_model.BatchAttachSharableVolumesOption(server_id=s) for s in servers]
    attach = ecs.batch_attach_sharable_volumes(
        ecs_model.BatchAttachSharableVolumesRequest(
            volume_id=volume_id,
            body=ecs_model.BatchAttachSharableVolumesRequestBody(serverinfo=serverinfo),
        )
    )
    assert sdk.show_volume(evs, volume_id).status == "attaching"
    assert sdk.wait_job(ecs, attach.job_id).status == "SUCCESS"
    assert sdk.show_volume(evs, volume_id).status == "in-use"
    detach = ecs.batch_detach_volumes(
        ecs_model.BatchDetachVolumesRequest(
            volume_id=volume_id, body=ecs_model.VolumeBatchDetachRequest(serverinfo=servers[:1])
        )
    )
    assert sdk.show_volume(evs, volume_id).status == "detaching"
    assert sdk.wait_job(ecs, detach.job_id).status == "SUCCESS"
    volume = sdk.show_volume(evs, volume_id)
    assert volume.status == "in-use"
    assert [a.server_id for a in volume.attachments] == servers[1:]


def test_finished_jobs_are_purged_after_the_retention(tmp_path: Path) -> None:
    access_key, secret_key, project_id = new_credentials()
    running = start_service(
        tmp_path / "data",
        access_key=access_key,
        secret_key=secret_key,
        project_id=project_id,
        lease_seconds=1,
        extra_args=("--job-retention", "1"),
    )
    try:
        evs = sdk.evs_client(running.endpoint, access_key, secret_key, project_id)
        volume_id = sdk.create_volume(evs)
        job_id = evs.delete_volume(evs_model.DeleteVolumeRequest(volume_id=volume_id)).job_id
        assert sdk.wait_job(evs, job_id).status == "SUCCESS"
        deadline = time.monotonic() + 15
        while True:
            try:
                evs.show_job(evs_model.ShowJobRequest(job_id=job_id))
            except ClientRequestException as gone:
                assert (gone.status_code, gone.error_code) == (400, "Common.0011")
                break
            assert time.monotonic() < deadline, "the finished job was never purged"
            time.sleep(0.2)
    finally:
        stop_service(running)
