"""ECS servers through the SDK: create (v1.1, v1), show, list with filters, stop/start, delete."""

from __future__ import annotations

import functools
import re
from typing import Any

from huaweicloudsdkecs.v2 import model as ecs_model

from tests.conftest import RunningService, stop_service
from tests.support import sdk
from tests.support.processes import SharedStore
from tests.support.sdk import JOB_ID, UUID

SERVER_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def test_create_servers_v1_1_with_system_and_data_disks(
    ecs: sdk.EcsClient, evs: sdk.EvsClient, service: RunningService
) -> None:
    name = sdk.unique("v11")
    server = sdk.server_spec(
        name, data_volumes=[sdk.data_volume(10), sdk.data_volume(20, shared=True)]
    )
    response = ecs.create_servers(
        ecs_model.CreateServersRequest(body=ecs_model.CreateServersRequestBody(server=server))
    )
    assert JOB_ID.match(response.job_id)
    [server_id] = response.server_ids
    assert UUID.match(server_id)

    job = sdk.wait_job(ecs, response.job_id)
    assert (job.status, job.job_type) == ("SUCCESS", "createServer")
    assert job.entities.sub_jobs_total == 1
    [sub] = job.entities.sub_jobs
    assert (sub.status, sub.job_type) == ("SUCCESS", "createSingleServer")
    assert sub.entities.server_id == server_id

    detail = sdk.show_server(ecs, server_id)
    assert (detail.id, detail.name, detail.status) == (server_id, name, "ACTIVE")
    assert detail.os_ext_st_svm_state == "active"
    assert detail.os_ext_st_spower_state == 1
    assert detail.tenant_id == service.project_id
    assert detail.flavor.id == "s6.small.1" and detail.image.id == "img-ubuntu-22.04"
    assert (detail.flavor.vcpus, detail.flavor.ram) == ("1", "1024")
    assert SERVER_TIME.match(detail.created) and SERVER_TIME.match(detail.updated)

    attached = detail.os_extended_volumesvolumes_attached
    assert len(attached) == 3
    boot = [a for a in attached if a.boot_index == "0"]
    assert len(boot) == 1
    assert boot[0].device == "/dev/vda"
    assert boot[0].delete_on_termination == "true"
    data = [a for a in attached if a.boot_index != "0"]
    assert {a.device for a in data} == {"/dev/vdb", "/dev/vdc"}
    assert {a.boot_index for a in data} == {"-1"}

    system = sdk.show_volume(evs, boot[0].id)
    assert (system.size, system.bootable, system.status) == (40, "true", "in-use")
    assert [a.server_id for a in system.attachments] == [server_id]
    disks = {a.device: sdk.show_volume(evs, a.id) for a in data}
    assert (disks["/dev/vdb"].size, disks["/dev/vdb"].multiattach) == (10, False)
    assert disks["/dev/vdb"].shareable == "false"
    assert (disks["/dev/vdc"].size, disks["/dev/vdc"].multiattach) == (20, True)
    assert disks["/dev/vdc"].shareable == "true"
    for disk in disks.values():
        assert disk.status == "in-use"
        assert [(a.server_id, a.volume_id) for a in disk.attachments] == [(server_id, disk.id)]


def test_create_post_paid_servers_v1_count_two(ecs: sdk.EcsClient, evs: sdk.EvsClient) -> None:
    name = sdk.unique("v1")
    server = ecs_model.PostPaidServer(
        image_ref="img-centos-8",
        flavor_ref="s6.medium.2",
        name=name,
        vpcid="vpc-2",
        nics=[ecs_model.PostPaidServerNic(subnet_id="subnet-2")],
        root_volume=ecs_model.PostPaidServerRootVolume(volumetype="SAS", size=50),
        data_volumes=[
            ecs_model.PostPaidServerDataVolume(volumetype="SSD", size=30, multiattach=True)
        ],
        count=2,
    )
    response = ecs.create_post_paid_servers(
        ecs_model.CreatePostPaidServersRequest(
            body=ecs_model.CreatePostPaidServersRequestBody(server=server)
        )
    )
    assert len(response.server_ids) == 2
    job = sdk.wait_job(ecs, response.job_id)
    assert (job.status, job.job_type) == ("SUCCESS", "createServer")
    assert job.entities.sub_jobs_total == 2
    assert [s.entities.server_id for s in job.entities.sub_jobs] == response.server_ids
    assert {s.job_type for s in job.entities.sub_jobs} == {"createSingleServer"}

    names = set()
    for server_id in response.server_ids:
        detail = sdk.show_server(ecs, server_id)
        assert detail.status == "ACTIVE"
        names.add(detail.name)
        attached = detail.os_extended_volumesvolumes_attached
        assert sorted(a.boot_index for a in attached) == ["-1", "0"]
        [shared] = [a for a in attached if a.boot_index == "-1"]
        volume = sdk.show_volume(evs, shared.id)
        assert (volume.multiattach, volume.size, volume.volume_type) == (True, 30, "SSD")
    # count > 1 with isAutoRename (default true) appends a numeric suffix.
    assert names == {f"{name}-0001", f"{name}-0002"}


def test_create_dry_run_creates_nothing(ecs: sdk.EcsClient) -> None:
    name = sdk.unique("dry")
    response = ecs.create_servers(
        ecs_model.CreateServersRequest(
            body=ecs_model.CreateServersRequestBody(server=sdk.server_spec(name), dry_run=True)
        )
    )
    assert response.job_id is None
    listing = ecs.list_servers_details(ecs_model.ListServersDetailsRequest(name=name))
    assert listing.count == 0 and listing.servers == []


def test_list_servers_details_filters_and_paging(ecs: sdk.EcsClient) -> None:
    name = sdk.unique("lst")
    ids = sdk.create_servers(ecs, count=3, name=name)
    other = sdk.create_servers(ecs, name=sdk.unique("other"))

    def listing(**query: Any) -> Any:
        return ecs.list_servers_details(ecs_model.ListServersDetailsRequest(**query))

    by_name = listing(name=name)
    assert by_name.count == 3
    assert {s.id for s in by_name.servers} == set(ids)
    assert other[0] not in {s.id for s in by_name.servers}

    assert listing(name=name, status="ACTIVE").count == 3
    none = listing(name=name, status="SHUTOFF")
    assert (none.count, none.servers) == (0, [])

    # server_id takes a comma-separated list and overrides every other filter.
    picked = listing(server_id=f"{ids[0]},{other[0]}", status="SHUTOFF", name="no-such-name")
    assert picked.count == 2
    assert {s.id for s in picked.servers} == {ids[0], other[0]}

    # offset is a page number starting at 1 (0 means 1); count is the whole match.
    first = listing(name=name, limit=2, offset=1)
    second = listing(name=name, limit=2, offset=2)
    assert (first.count, len(first.servers)) == (3, 2)
    assert (second.count, len(second.servers)) == (3, 1)
    paged = [s.id for s in first.servers + second.servers]
    assert sorted(paged) == sorted(ids)
    assert [s.id for s in listing(name=name, limit=2, offset=0).servers] == paged[:2]
    assert listing(name=name, limit=2, offset=3).servers == []

    # marker: the page after the given server, in the same order.
    after = listing(name=name, limit=2, marker=first.servers[-1].id)
    assert [s.id for s in after.servers] == paged[2:]
    after_first = listing(name=name, limit=5, marker=paged[0])
    assert [s.id for s in after_first.servers] == paged[1:]


def test_list_servers_by_a_name_outside_ascii(ecs: sdk.EcsClient) -> None:
    """The name filter travels in the signed query string, percent-encoded as UTF-8."""
    name = sdk.unique("测试服务器")
    [server_id] = sdk.create_servers(ecs, name=name)
    listing = ecs.list_servers_details(ecs_model.ListServersDetailsRequest(name=name))
    assert [(s.id, s.name) for s in listing.servers] == [(server_id, name)]
    partial = ecs.list_servers_details(ecs_model.ListServersDetailsRequest(name="测试服务"))
    assert server_id in {s.id for s in partial.servers}


def test_batch_stop_and_start(ecs: sdk.EcsClient) -> None:
    ids = sdk.create_servers(ecs, count=2, name=sdk.unique("pwr"))

    stopped = sdk.stop_servers(ecs, ids)
    assert (stopped.status, stopped.job_type) == ("SUCCESS", "batchStopServers")
    assert stopped.entities.sub_jobs_total == 2
    assert [s.entities.server_id for s in stopped.entities.sub_jobs] == ids
    for server_id in ids:
        detail = sdk.show_server(ecs, server_id)
        assert (detail.status, detail.os_ext_st_svm_state) == ("SHUTOFF", "stopped")
        assert detail.os_ext_st_spower_state == 4
        assert detail.os_ext_st_stask_state is None

    started = sdk.start_servers(ecs, ids[:1])
    assert (started.status, started.job_type) == ("SUCCESS", "batchStartServers")
    assert sdk.show_server(ecs, ids[0]).status == "ACTIVE"
    assert sdk.show_server(ecs, ids[1]).status == "SHUTOFF"


def test_delete_servers_keeps_data_disks(ecs: sdk.EcsClient, evs: sdk.EvsClient) -> None:
    [server_id] = sdk.create_servers(
        ecs, name=sdk.unique("del"), data_volumes=[sdk.data_volume(), sdk.data_volume(shared=True)]
    )
    system = sdk.system_disk_id(ecs, server_id)
    data = sdk.attached_volume_ids(ecs, server_id) - {system}
    assert len(data) == 2

    job = sdk.delete_servers(ecs, [server_id])
    assert (job.status, job.job_type) == ("SUCCESS", "deleteVMs")
    [sub] = job.entities.sub_jobs
    assert (sub.job_type, sub.entities.server_id) == ("deleteSingleServer", server_id)

    sdk.expect_error(lambda: sdk.show_server(ecs, server_id), 404, "Ecs.0114")
    sdk.expect_error(lambda: sdk.block_devices(ecs, server_id), 404, "Ecs.0114")
    sdk.expect_error(lambda: sdk.show_volume(evs, system), 404, "EVS.5404")
    for volume_id in data:
        volume = sdk.show_volume(evs, volume_id)
        assert (volume.status, volume.attachments) == ("available", [])


def test_delete_servers_with_delete_volume(ecs: sdk.EcsClient, evs: sdk.EvsClient) -> None:
    [server_id, neighbour] = sdk.create_servers(
        ecs, count=2, name=sdk.unique("delv"), data_volumes=[sdk.data_volume(shared=True)]
    )
    system = sdk.system_disk_id(ecs, server_id)
    [shared] = sdk.attached_volume_ids(ecs, server_id) - {system}
    [own] = sdk.attached_volume_ids(ecs, neighbour) - {sdk.system_disk_id(ecs, neighbour)}
    # The neighbour also holds server_id's shared disk: it must survive delete_volume=true.
    assert sdk.batch_attach(ecs, shared, [neighbour]).status == "SUCCESS"

    job = sdk.delete_servers(ecs, [server_id], delete_volume=True)
    assert job.status == "SUCCESS"
    sdk.expect_error(lambda: sdk.show_server(ecs, server_id), 404, "Ecs.0114")
    sdk.expect_error(lambda: sdk.show_volume(evs, system), 404, "EVS.5404")
    kept = sdk.show_volume(evs, shared)
    assert kept.status == "in-use"
    assert [a.server_id for a in kept.attachments] == [neighbour]
    assert sdk.attached_volume_ids(ecs, neighbour) == {
        sdk.system_disk_id(ecs, neighbour),
        own,
        shared,
    }

    # Deleting the last holder with delete_volume=true takes its data disks along.
    assert sdk.delete_servers(ecs, [neighbour], delete_volume=True).status == "SUCCESS"
    for volume_id in (shared, own):
        sdk.expect_error(functools.partial(sdk.show_volume, evs, volume_id), 404, "EVS.5404")


def test_server_errors(ecs: sdk.EcsClient) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    sdk.expect_error(lambda: sdk.show_server(ecs, missing), 404, "Ecs.0114")
    error = sdk.expect_error(lambda: sdk.delete_servers(ecs, [missing]), 404, "Ecs.0114")
    assert missing in error.error_msg
    sdk.expect_error(lambda: sdk.stop_servers(ecs, [missing]), 404, "Ecs.0114")
    [server_id] = sdk.create_servers(ecs, name=sdk.unique("err"))
    # A server listed twice is a bad request, and nothing is submitted.
    sdk.expect_error(lambda: sdk.stop_servers(ecs, [server_id, server_id]), 400, "Ecs.0005")
    assert sdk.show_server(ecs, server_id).status == "ACTIVE"


def test_delete_queued_behind_a_stop_keeps_its_task_state(shared_store: SharedStore) -> None:
    """Operations on one server run in order; a stop that finishes while a delete waits must
    not clear the delete's task state."""
    workers = shared_store.start()
    ecs, _ = shared_store.clients()
    [server_id] = sdk.create_servers(ecs, name=sdk.unique("queued"))
    stop_service(workers)

    option = ecs_model.BatchStopServersOption(servers=[ecs_model.ServerId(id=server_id)])
    stop_job = ecs.batch_stop_servers(
        ecs_model.BatchStopServersRequest(body=ecs_model.BatchStopServersRequestBody(option))
    ).job_id
    assert sdk.show_server(ecs, server_id).os_ext_st_stask_state == "powering-off"
    delete_body = ecs_model.DeleteServersRequestBody(servers=[ecs_model.ServerId(id=server_id)])
    delete_job = ecs.delete_servers(ecs_model.DeleteServersRequest(body=delete_body)).job_id
    assert sdk.show_server(ecs, server_id).os_ext_st_stask_state == "deleting"

    # Slow enough that the delete (three data-plane steps) is still running after the stop.
    shared_store.start(driver_latency=0.5)
    assert sdk.wait_job(ecs, stop_job).status == "SUCCESS"
    assert sdk.show_server(ecs, server_id).os_ext_st_stask_state == "deleting"
    assert sdk.wait_job(ecs, delete_job).status == "SUCCESS"
    sdk.expect_error(
        lambda: ecs.show_server(ecs_model.ShowServerRequest(server_id=server_id)), 404, "Ecs.0114"
    )


def test_create_honours_the_sdks_enterprise_project(ecs: sdk.EcsClient) -> None:
    server = sdk.server_spec(
        sdk.unique("ep"),
        extendparam=ecs_model.PrePaidServerExtendParam(enterprise_project_id="ep-123"),
    )
    created = ecs.create_servers(
        ecs_model.CreateServersRequest(body=ecs_model.CreateServersRequestBody(server=server))
    )
    assert sdk.wait_job(ecs, created.job_id).status == "SUCCESS"
    assert sdk.show_server(ecs, created.server_ids[0]).enterprise_project_id == "ep-123"
    listed = ecs.list_servers_details(
        ecs_model.ListServersDetailsRequest(enterprise_project_id="ep-123")
    )
    assert [s.id for s in listed.servers] == created.server_ids


def test_create_limits(ecs: sdk.EcsClient) -> None:
    def create(server: Any) -> Any:
        body = ecs_model.CreateServersRequestBody(server=server)
        return lambda: ecs.create_servers(ecs_model.CreateServersRequest(body=body))

    too_many_disks = sdk.server_spec("disks", data_volumes=[sdk.data_volume()] * 24)
    sdk.expect_error(create(too_many_disks), 400, "Ecs.0042")
    # With count > 1 the "-0001" suffix must still fit in 64 characters.
    sdk.expect_error(create(sdk.server_spec("n" * 60, count=2)), 400, "Ecs.0005")
    long_single = sdk.server_spec("n" * 64)
    assert sdk.wait_job(ecs, create(long_single)().job_id).status == "SUCCESS"
