"""Faults through the official SDK: a failing sub-job, gateway errors, delays, hangs, replays."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from huaweicloudsdkcore.exceptions.exceptions import (
    ClientRequestException,
    ServerResponseException,
)
from huaweicloudsdkecs.v2 import model as ecs_model
from huaweicloudsdkevs.v2 import model as evs_model

from localecs.testing import ControlError
from tests.control.conftest import Controlled
from tests.support import sdk, signed_http


def _shared_on(c: Controlled, count: int) -> tuple[str, list[str]]:
    servers = sdk.create_servers(c.ecs, count=count, name=sdk.unique("f"))
    volume_id = sdk.create_volume(c.evs, shared=True, name=sdk.unique("f"))
    assert sdk.batch_attach(c.ecs, volume_id, servers).status == "SUCCESS"
    return volume_id, servers


def _detach_request(volume_id: str, servers: list[str]) -> Any:
    return ecs_model.BatchDetachVolumesRequest(
        volume_id=volume_id, body=ecs_model.VolumeBatchDetachRequest(serverinfo=servers)
    )


def _holders(c: Controlled, volume_id: str) -> list[str]:
    return sorted(a.server_id for a in sdk.show_volume(c.evs, volume_id).attachments)


def test_a_fault_on_one_server_fails_its_sub_job_and_the_others_are_applied(
    controlled: Controlled,
) -> None:
    c = controlled
    volume_id, servers = _shared_on(c, 3)
    fault = c.cloud.faults.add(
        action="fail",
        operation="batchDetachVolumes",
        server_id=servers[1],
        error_code="Ecs.1000",
        fail_reason="Nova refused the detach.",
    )

    job = sdk.batch_detach(c.ecs, volume_id, servers)

    assert (job.status, job.error_code) == ("FAIL", "Ecs.1000")
    assert job.fail_reason.startswith("1 of 3 sub-jobs failed")
    by_server = {sub.entities.server_id: sub for sub in job.entities.sub_jobs}
    failed = by_server[servers[1]]
    assert (failed.status, failed.error_code) == ("FAIL", "Ecs.1000")
    assert failed.fail_reason == "Nova refused the detach."
    assert failed.entities.errorcode_message == "Nova refused the detach."
    assert {by_server[s].status for s in (servers[0], servers[2])} == {"SUCCESS"}
    # The two successes are applied; the failed detach left its attachment as it was.
    assert _holders(c, volume_id) == [servers[1]]
    assert sdk.show_volume(c.evs, volume_id).status == "in-use"
    assert volume_id in sdk.attached_volume_ids(c.ecs, servers[1])
    assert volume_id not in sdk.attached_volume_ids(c.ecs, servers[0])
    assert volume_id not in sdk.attached_volume_ids(c.ecs, servers[2])
    # Only the one sub-job on that server matched the fault.
    seen = c.cloud.faults.get(fault["id"])
    assert (seen["matches"], seen["applied"]) == (1, 1)


def test_a_fault_with_times_fires_that_many_times_then_lets_calls_through(
    controlled: Controlled,
) -> None:
    c = controlled
    [server] = sdk.create_servers(c.ecs, count=1, name=sdk.unique("t"))
    volume_id = sdk.create_volume(c.evs, name=sdk.unique("t"))
    c.cloud.faults.add(action="fail", operation="attachVolume", error_code="Ecs.0205", times=1)

    first = sdk.attach(c.ecs, server, volume_id)
    second = sdk.attach(c.ecs, server, volume_id)

    assert (first.status, first.error_code) == ("FAIL", "Ecs.0205")
    assert second.status == "SUCCESS"
    assert volume_id in sdk.attached_volume_ids(c.ecs, server)
    [fault] = c.cloud.faults.list()
    assert (fault["matches"], fault["applied"]) == (1, 1)


def test_a_503_fault_reaches_the_sdk_with_its_code_and_request_id_and_changes_nothing(
    controlled: Controlled,
) -> None:
    c = controlled
    volume_id, servers = _shared_on(c, 2)
    c.cloud.faults.add(action="http", operation="batch_detach_volumes", status=503, times=1)
    service = c.service
    ecs, _evs, recorder = sdk.recording_clients(
        service.endpoint, service.access_key, service.secret_key, service.project_id
    )

    with pytest.raises(ServerResponseException) as raised:
        ecs.batch_detach_volumes(_detach_request(volume_id, servers))

    error = raised.value
    assert (error.status_code, error.error_code) == (503, "Common.1503")
    assert error.error_msg
    status, request_id = recorder.last
    assert status == 503 and request_id and error.request_id == request_id
    assert _holders(c, volume_id) == sorted(servers)
    assert sdk.show_volume(c.evs, volume_id).status == "in-use"
    # Fired once: the retry goes through.
    job = sdk.wait_job(ecs, ecs.batch_detach_volumes(_detach_request(volume_id, servers)).job_id)
    assert job.status == "SUCCESS"
    assert _holders(c, volume_id) == []


def test_a_429_fault_answers_in_the_gateway_format(controlled: Controlled) -> None:
    c = controlled
    [server] = sdk.create_servers(c.ecs, count=1, name=sdk.unique("g"))
    c.cloud.faults.add(action="http", operation="showServer", server_id=server, status=429)

    response = signed_http.request(
        c.service, "GET", f"/v1/{c.service.project_id}/cloudservers/{server}"
    )
    message = signed_http.assert_gateway_error(response, 429, "APIG.0308")
    assert "throttling" in message
    # The SDK hands a 429 to urllib3's retry (retry_times, 0 by default), which gives up at
    # once: the caller sees the status, without the body.
    with pytest.raises(ClientRequestException) as raised:
        sdk.show_server(c.ecs, server)
    assert raised.value.status_code == 429
    # Other operations on the server are not affected.
    assert sdk.block_devices(c.ecs, server).volume_attachments


def test_a_probability_fault_with_a_seed_fails_the_same_calls_in_two_runs(
    controlled: Controlled,
) -> None:
    c = controlled
    [server] = sdk.create_servers(c.ecs, count=1, name=sdk.unique("p"))
    document = c.cloud.export()

    def run() -> list[bool]:
        c.cloud.faults.add(
            action="http", operation="showServer", status=500, probability=0.5, seed=2026
        )
        outcomes = []
        for _ in range(24):
            try:
                sdk.show_server(c.ecs, server)
                outcomes.append(True)
            except ServerResponseException as error:
                assert (error.status_code, error.error_code) == (500, "Common.0001")
                outcomes.append(False)
        return outcomes

    first = run()
    c.cloud.reset()
    c.cloud.import_(document)
    second = run()

    assert first == second
    assert 0 < first.count(False) < len(first)
    [fault] = c.cloud.faults.list()
    assert (fault["matches"], fault["applied"]) == (24, first.count(False))


def test_a_delay_fault_holds_the_sub_job_for_that_long(controlled: Controlled) -> None:
    c = controlled
    volume_id, servers = _shared_on(c, 2)
    c.cloud.faults.add(
        action="delay", operation="detachVolume", server_id=servers[0], delay={"seconds": 1.5}
    )

    job = sdk.batch_detach(c.ecs, volume_id, servers)

    assert job.status == "SUCCESS"
    took = {sub.entities.server_id: _seconds(sub) for sub in job.entities.sub_jobs}
    assert took[servers[0]] >= 1.5
    assert took[servers[1]] < 1.5


def _seconds(job: Any) -> float:
    parse = datetime.fromisoformat
    return (parse(job.end_time) - parse(job.begin_time)).total_seconds()


def test_a_hang_fault_holds_the_task_running_until_released(controlled: Controlled) -> None:
    c = controlled
    [server] = sdk.create_servers(c.ecs, count=1, name=sdk.unique("h"))
    volume_id = sdk.create_volume(c.evs, name=sdk.unique("h"))
    assert sdk.attach(c.ecs, server, volume_id).status == "SUCCESS"
    c.cloud.faults.add(action="hang", operation="detachServerVolume", volume_id=volume_id)

    job_id = c.ecs.detach_server_volume(
        ecs_model.DetachServerVolumeRequest(server_id=server, volume_id=volume_id)
    ).job_id
    [held] = c.cloud.wait_held(job_id=job_id)

    assert (held["hold"], held["status"]) == ("hang", "RUNNING")
    assert c.ecs.show_job(ecs_model.ShowJobRequest(job_id=job_id)).status == "RUNNING"
    assert sdk.show_volume(c.evs, volume_id).status == "detaching"
    assert [h["task_id"] for h in c.cloud.release(job_id=job_id)] == [job_id]
    assert sdk.wait_job(c.ecs, job_id).status == "SUCCESS"
    assert sdk.show_volume(c.evs, volume_id).status == "available"


def test_faults_can_be_listed_and_removed(controlled: Controlled) -> None:
    faults = controlled.cloud.faults
    first = faults.add(action="hang", operation="createServers", id="slow-create")
    second = faults.add(action="http", status=500)
    assert first["id"] == "slow-create" and second["id"] == "fault-2"
    assert [f["id"] for f in faults.list()] == ["slow-create", "fault-2"]
    assert first["operation"] == "createServers"
    faults.remove("slow-create")
    assert [f["id"] for f in faults.list()] == ["fault-2"]
    assert faults.clear() == 1
    assert faults.list() == []


def test_an_http_fault_on_show_job_lets_the_job_itself_run(controlled: Controlled) -> None:
    c = controlled
    volume_id = sdk.create_volume(c.evs, name=sdk.unique("j"))
    c.cloud.faults.add(action="http", operation="showJob", status=503, times=2)
    response = c.evs.delete_volume(evs_model.DeleteVolumeRequest(volume_id=volume_id))
    for _ in range(2):
        with pytest.raises(ServerResponseException):
            sdk.wait_job(c.evs, response.job_id)
    assert sdk.wait_job(c.evs, response.job_id).status == "SUCCESS"


def test_a_client_error_fault_needs_a_code(controlled: Controlled) -> None:
    with pytest.raises(ControlError) as raised:
        controlled.cloud.faults.add(action="http", status=409)
    assert (raised.value.status, raised.value.code) == (400, "LocalEcs.0005")
    fault = controlled.cloud.faults.add(action="http", status=409, error_code="Ecs.0603")
    assert fault["error_code"] == "Ecs.0603"
