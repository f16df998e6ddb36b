"""The centre of the product: detaching one shared disk from many servers in one call."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from huaweicloudsdkecs.v2 import model as ecs_model
from huaweicloudsdkevs.v2 import model as evs_model
from sqlalchemy import create_engine, text

from tests.conftest import RunningService, stop_service
from tests.support import sdk, signed_http
from tests.support.processes import SharedStore
from tests.support.sdk import JOB_ID, JOB_TIME

MISSING = "00000000-0000-4000-8000-000000000000"


def test_batch_detach_from_two_of_three_servers(ecs: sdk.EcsClient, evs: sdk.EvsClient) -> None:
    servers = sdk.create_servers(ecs, count=3, name="story")
    volume_id = sdk.create_volume(evs, shared=True, name="shared-story")
    attached = sdk.batch_attach(ecs, volume_id, servers)
    assert attached.status == "SUCCESS"
    assert attached.job_type == "batchAttachVolumes"

    response = ecs.batch_detach_volumes(
        ecs_model.BatchDetachVolumesRequest(
            volume_id=volume_id, body=ecs_model.VolumeBatchDetachRequest(serverinfo=servers[:2])
        )
    )
    assert len(response.job_id) == 32
    job = sdk.wait_job(ecs, response.job_id)

    assert job.status == "SUCCESS"
    assert job.job_type == "batchDetachVolumes"
    assert job.error_code is None and job.fail_reason is None
    assert job.begin_time.endswith("Z") and job.end_time.endswith("Z")
    assert job.entities.sub_jobs_total == 2
    subs = job.entities.sub_jobs
    assert [s.entities.server_id for s in subs] == servers[:2]
    assert {s.status for s in subs} == {"SUCCESS"}
    assert {s.job_type for s in subs} == {"detachVolume"}

    for server_id in servers[:2]:
        devices = ecs.list_server_block_devices(
            ecs_model.ListServerBlockDevicesRequest(server_id=server_id)
        )
        assert volume_id not in {d.volume_id for d in devices.volume_attachments}
    kept = ecs.list_server_block_devices(
        ecs_model.ListServerBlockDevicesRequest(server_id=servers[2])
    )
    assert volume_id in {d.volume_id for d in kept.volume_attachments}

    volume = evs.show_volume(evs_model.ShowVolumeRequest(volume_id=volume_id)).volume
    assert volume.status == "in-use"
    assert [a.server_id for a in volume.attachments] == [servers[2]]

    # Detaching the last one frees the disk.
    last = sdk.batch_detach(ecs, volume_id, [servers[2]])
    assert last.status == "SUCCESS"
    volume = evs.show_volume(evs_model.ShowVolumeRequest(volume_id=volume_id)).volume
    assert volume.status == "available"
    assert volume.attachments == []


# --- Details of the story and every rejection of contract section 8 ---------------------------


def _detach_request(volume_id: str, server_ids: list[str]) -> ecs_model.BatchDetachVolumesRequest:
    return ecs_model.BatchDetachVolumesRequest(
        volume_id=volume_id, body=ecs_model.VolumeBatchDetachRequest(serverinfo=server_ids)
    )


def _attach_request(
    volume_id: str, server_ids: list[str]
) -> ecs_model.BatchAttachSharableVolumesRequest:
    body = ecs_model.BatchAttachSharableVolumesRequestBody(
        serverinfo=[ecs_model.BatchAttachSharableVolumesOption(server_id=s) for s in server_ids]
    )
    return ecs_model.BatchAttachSharableVolumesRequest(volume_id=volume_id, body=body)


def _holders(ecs: sdk.EcsClient, evs: sdk.EvsClient, volume_id: str, servers: list[str]) -> Any:
    """Who holds the disk, seen from EVS and from each server; both views must agree."""
    volume = sdk.show_volume(evs, volume_id)
    from_evs = sorted(a.server_id for a in volume.attachments)
    from_ecs = sorted(s for s in servers if volume_id in sdk.attached_volume_ids(ecs, s))
    assert from_evs == from_ecs, (from_evs, from_ecs)
    return volume.status, from_evs


@pytest.fixture
def shared_on_two(ecs: sdk.EcsClient, evs: sdk.EvsClient) -> tuple[str, list[str]]:
    """A shared disk on the first two of three servers; the third does not have it."""
    servers = sdk.create_servers(ecs, count=3, name=sdk.unique("bd"))
    volume_id = sdk.create_volume(evs, shared=True, name=sdk.unique("bd"))
    assert sdk.batch_attach(ecs, volume_id, servers[:2]).status == "SUCCESS"
    return volume_id, servers


def test_batch_attach_job_shape(ecs: sdk.EcsClient, evs: sdk.EvsClient) -> None:
    servers = sdk.create_servers(ecs, count=2, name=sdk.unique("ba"))
    volume_id = sdk.create_volume(evs, shared=True, name=sdk.unique("ba"))
    response = ecs.batch_attach_sharable_volumes(_attach_request(volume_id, servers))
    job = sdk.wait_job(ecs, response.job_id)
    assert (job.status, job.job_type, job.entities.sub_jobs_total) == (
        "SUCCESS",
        "batchAttachVolumes",
        2,
    )
    subs = job.entities.sub_jobs
    assert [s.entities.server_id for s in subs] == servers
    assert {(s.status, s.job_type) for s in subs} == {("SUCCESS", "attachVolume")}
    for sub in subs:
        assert JOB_ID.match(sub.job_id) and sub.job_id != job.job_id
        assert JOB_TIME.match(sub.begin_time) and JOB_TIME.match(sub.end_time)
        assert sub.error_code is None and sub.fail_reason is None
    assert _holders(ecs, evs, volume_id, servers) == ("in-use", sorted(servers))
    # Each server got the disk on its first free data slot.
    for server_id in servers:
        devices = {d.volume_id: d for d in sdk.block_devices(ecs, server_id).volume_attachments}
        assert devices[volume_id].device == "/dev/vdb"


def test_unknown_volume_is_evs_5404(ecs: sdk.EcsClient) -> None:
    [server_id] = sdk.create_servers(ecs, name=sdk.unique("nv"))
    error = sdk.expect_error(
        lambda: ecs.batch_detach_volumes(_detach_request(MISSING, [server_id])), 404, "EVS.5404"
    )
    assert error.error_msg == f"Volume {MISSING} could not be found."
    sdk.expect_error(
        lambda: ecs.batch_attach_sharable_volumes(_attach_request(MISSING, [server_id])),
        404,
        "EVS.5404",
    )


def test_unknown_server_is_ecs_0114_and_changes_nothing(
    ecs: sdk.EcsClient, evs: sdk.EvsClient, shared_on_two: tuple[str, list[str]]
) -> None:
    volume_id, servers = shared_on_two
    error = sdk.expect_error(
        lambda: ecs.batch_detach_volumes(_detach_request(volume_id, [servers[0], MISSING])),
        404,
        "Ecs.0114",
    )
    assert MISSING in error.error_msg
    assert _holders(ecs, evs, volume_id, servers) == ("in-use", sorted(servers[:2]))
    sdk.expect_error(
        lambda: ecs.batch_attach_sharable_volumes(
            _attach_request(volume_id, [servers[2], MISSING])
        ),
        404,
        "Ecs.0114",
    )
    assert _holders(ecs, evs, volume_id, servers) == ("in-use", sorted(servers[:2]))


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"serverinfo": []}, id="empty"),
        pytest.param({}, id="missing"),
        pytest.param({"serverinfo": None}, id="null"),
        pytest.param({"serverinfo": "a26887c6-c47b-4654-abb5-dfadf7d3f803"}, id="not-a-list"),
        pytest.param({"serverinfo": {"id": "x"}}, id="object"),
        pytest.param({"serverinfo": [1, 2]}, id="numbers"),
        pytest.param({"serverinfo": [{"server_id": "x"}]}, id="objects"),
        pytest.param({"serverinfo": [""]}, id="empty-id"),
        pytest.param({"serverinfo": ["same", "same"]}, id="duplicates"),
        pytest.param({"serverinfo": ["x"], "force": True}, id="unknown-field"),
        pytest.param(["x"], id="top-level-list"),
    ],
)
def test_bad_serverinfo_is_ecs_0005(service: RunningService, evs: sdk.EvsClient, body: Any) -> None:
    volume_id = sdk.create_volume(evs, shared=True, name=sdk.unique("bad"))
    response = signed_http.request(
        service,
        "POST",
        f"/v1/{service.project_id}/batchaction/detachvolumes/{volume_id}",
        body=body,
    )
    message = signed_http.assert_service_error(response, 400, "Ecs.0005")
    if isinstance(body, dict) and body.get("serverinfo") != ["x"]:
        assert "serverinfo" in message, message


@pytest.mark.parametrize(
    "serverinfo",
    [
        pytest.param([], id="empty"),
        pytest.param(["x"], id="strings"),
        pytest.param([{"device": "/dev/vdb"}], id="no-server-id"),
        pytest.param([{"server_id": 7}], id="number-id"),
        pytest.param([{"server_id": "a"}, {"server_id": "a"}], id="duplicates"),
    ],
)
def test_bad_batch_attach_serverinfo_is_ecs_0005(
    service: RunningService, evs: sdk.EvsClient, serverinfo: Any
) -> None:
    volume_id = sdk.create_volume(evs, shared=True, name=sdk.unique("bad"))
    response = signed_http.request(
        service,
        "POST",
        f"/v1/{service.project_id}/batchaction/attachvolumes/{volume_id}",
        body={"serverinfo": serverinfo},
    )
    message = signed_http.assert_service_error(response, 400, "Ecs.0005")
    assert "serverinfo" in message, message


def test_duplicate_servers_through_the_sdk(
    ecs: sdk.EcsClient, evs: sdk.EvsClient, shared_on_two: tuple[str, list[str]]
) -> None:
    volume_id, servers = shared_on_two
    sdk.expect_error(
        lambda: ecs.batch_detach_volumes(_detach_request(volume_id, [servers[0], servers[0]])),
        400,
        "Ecs.0005",
    )
    assert _holders(ecs, evs, volume_id, servers) == ("in-use", sorted(servers[:2]))


def test_more_than_16_servers_is_ecs_0118(ecs: sdk.EcsClient, evs: sdk.EvsClient) -> None:
    volume_id = sdk.create_volume(evs, shared=True, name=sdk.unique("many"))
    seventeen = [str(uuid.uuid4()) for _ in range(17)]
    sdk.expect_error(
        lambda: ecs.batch_detach_volumes(_detach_request(volume_id, seventeen)), 400, "Ecs.0118"
    )
    sdk.expect_error(
        lambda: ecs.batch_attach_sharable_volumes(_attach_request(volume_id, seventeen)),
        400,
        "Ecs.0118",
    )
    assert sdk.show_volume(evs, volume_id).status == "available"


def test_a_server_without_the_volume_rejects_everything(
    ecs: sdk.EcsClient, evs: sdk.EvsClient, shared_on_two: tuple[str, list[str]]
) -> None:
    volume_id, servers = shared_on_two
    before = {s: sdk.block_devices(ecs, s) for s in servers}

    error = sdk.expect_error(
        lambda: ecs.batch_detach_volumes(_detach_request(volume_id, [servers[0], servers[2]])),
        400,
        "Ecs.0111",
    )
    assert servers[2] in error.error_msg

    # Nothing changed: not the listed server that has the disk, not the other one, not the
    # disk's status (never even briefly "detaching"), not a single block device.
    assert _holders(ecs, evs, volume_id, servers) == ("in-use", sorted(servers[:2]))
    assert {s: sdk.block_devices(ecs, s) for s in servers} == before
    # And the disk still detaches normally afterwards.
    assert sdk.batch_detach(ecs, volume_id, servers[:2]).status == "SUCCESS"
    assert _holders(ecs, evs, volume_id, servers) == ("available", [])


def test_batch_attach_to_a_server_that_has_it_is_ecs_0057(
    ecs: sdk.EcsClient, evs: sdk.EvsClient, shared_on_two: tuple[str, list[str]]
) -> None:
    volume_id, servers = shared_on_two
    error = sdk.expect_error(
        lambda: ecs.batch_attach_sharable_volumes(
            _attach_request(volume_id, [servers[2], servers[1]])
        ),
        400,
        "Ecs.0057",
    )
    assert servers[1] in error.error_msg
    # The third server was not attached either: the request is all or nothing.
    assert _holders(ecs, evs, volume_id, servers) == ("in-use", sorted(servers[:2]))
    assert sdk.batch_attach(ecs, volume_id, servers[2:]).status == "SUCCESS"
    assert _holders(ecs, evs, volume_id, servers) == ("in-use", sorted(servers))


def test_batch_detach_of_an_available_disk_is_ecs_0111(
    ecs: sdk.EcsClient, evs: sdk.EvsClient
) -> None:
    [server_id] = sdk.create_servers(ecs, name=sdk.unique("avail"))
    volume_id = sdk.create_volume(evs, shared=True, name=sdk.unique("avail"))
    sdk.expect_error(
        lambda: ecs.batch_detach_volumes(_detach_request(volume_id, [server_id])),
        400,
        "Ecs.0111",
    )
    assert sdk.show_volume(evs, volume_id).status == "available"


def test_a_second_detach_of_a_disk_being_detached_is_refused(
    ecs: sdk.EcsClient, evs: sdk.EvsClient, shared_on_two: tuple[str, list[str]]
) -> None:
    """While a batch detach is admitted, the same attachments cannot be detached again."""
    volume_id, servers = shared_on_two
    first = ecs.batch_detach_volumes(_detach_request(volume_id, servers[:1]))
    # Admission already marked the attachment detaching: a repeat is Ecs.0111, whether the
    # first job is still running or has finished.
    sdk.expect_error(
        lambda: ecs.batch_detach_volumes(_detach_request(volume_id, servers[:1])),
        400,
        "Ecs.0111",
    )
    assert sdk.wait_job(ecs, first.job_id).status == "SUCCESS"
    assert _holders(ecs, evs, volume_id, servers) == ("in-use", [servers[1]])


def test_detach_of_the_system_disk_slot_needs_shutoff(ecs: sdk.EcsClient) -> None:
    """Batch detach applies the same server-state rule as single detach."""
    [server_id] = sdk.create_servers(ecs, name=sdk.unique("bsys"))
    system = sdk.system_disk_id(ecs, server_id)
    sdk.expect_error(
        lambda: ecs.batch_detach_volumes(_detach_request(system, [server_id])), 400, "Ecs.0100"
    )
    assert system in sdk.attached_volume_ids(ecs, server_id)


def test_partial_failure_is_reported_not_rolled_back(shared_store: SharedStore) -> None:
    """Section 8: an attachment that disappears after admission fails its own sub-job with
    Ecs.0111; the other sub-job stays applied and the parent reports FAIL.

    The API refuses every way to cause this (a second detach is Ecs.0111 at admission, stop and
    delete mark the server busy, sub-jobs of one server run in order), so the test removes the
    attachment row itself while no worker runs, then lets a worker process take the job.
    """
    workers = shared_store.start()
    ecs, evs = shared_store.clients()
    servers = sdk.create_servers(ecs, count=2, name="partial")
    volume_id = sdk.create_volume(evs, shared=True, name="partial")
    assert sdk.batch_attach(ecs, volume_id, servers).status == "SUCCESS"
    stop_service(workers)

    job_id = ecs.batch_detach_volumes(_detach_request(volume_id, servers)).job_id
    assert ecs.show_job(ecs_model.ShowJobRequest(job_id=job_id)).status == "INIT"
    engine = create_engine(shared_store.api.database_url)
    try:
        with engine.begin() as connection:
            gone = connection.execute(
                text("DELETE FROM attachments WHERE volume_id = :v AND server_id = :s"),
                {"v": volume_id, "s": servers[0]},
            )
            assert gone.rowcount == 1
    finally:
        engine.dispose()

    shared_store.start()
    job = sdk.wait_job(ecs, job_id)
    assert (job.status, job.error_code) == ("FAIL", "Ecs.0111")
    assert job.fail_reason.startswith("1 of 2 sub-jobs failed"), job.fail_reason
    failed, succeeded = job.entities.sub_jobs
    assert (failed.status, failed.error_code, failed.entities.server_id) == (
        "FAIL",
        "Ecs.0111",
        servers[0],
    )
    assert failed.fail_reason and failed.entities.errorcode_message
    assert JOB_TIME.match(failed.end_time)
    assert (succeeded.status, succeeded.error_code, succeeded.entities.server_id) == (
        "SUCCESS",
        None,
        servers[1],
    )
    # The successful sub-job stays applied: neither server holds the disk any more.
    assert _holders(ecs, evs, volume_id, servers) == ("available", [])
