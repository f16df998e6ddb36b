"""Single attach and detach, and the three ways to read a server's disks."""

from __future__ import annotations

import re
from typing import Any

from huaweicloudsdkecs.v2 import model as ecs_model
from huaweicloudsdkevs.v2 import model as evs_model

from tests.conftest import RunningService
from tests.support import sdk, signed_http
from tests.support.sdk import JOB_ID

VOLUME_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}$")
MISSING = "00000000-0000-4000-8000-000000000000"


def _show_device(ecs: sdk.EcsClient, server_id: str, volume_id: str) -> Any:
    return ecs.show_server_block_device(
        ecs_model.ShowServerBlockDeviceRequest(server_id=server_id, volume_id=volume_id)
    ).volume_attachment


def test_attach_then_detach_one_disk(ecs: sdk.EcsClient, evs: sdk.EvsClient) -> None:
    [server_id] = sdk.create_servers(ecs, name=sdk.unique("att"))
    volume_id = sdk.create_volume(evs, size=12, name=sdk.unique("att"))
    system = sdk.system_disk_id(ecs, server_id)
    before = sdk.block_devices(ecs, server_id)
    assert sdk.show_volume(evs, volume_id).status == "available"

    response = ecs.attach_server_volume(
        ecs_model.AttachServerVolumeRequest(
            server_id=server_id,
            body=ecs_model.AttachServerVolumeRequestBody(
                ecs_model.AttachServerVolumeOption(volume_id=volume_id)
            ),
        )
    )
    assert JOB_ID.match(response.job_id)
    job = sdk.wait_job(ecs, response.job_id)
    assert (job.status, job.job_type) == ("SUCCESS", "attachVolume")
    assert job.entities.server_id == server_id
    assert (job.entities.sub_jobs_total, job.entities.sub_jobs) == (0, [])

    volume = sdk.show_volume(evs, volume_id)
    assert volume.status == "in-use"
    [attachment] = volume.attachments
    assert (attachment.server_id, attachment.volume_id, attachment.id) == (
        server_id,
        volume_id,
        volume_id,
    )
    assert attachment.device == "/dev/vdb"
    assert VOLUME_TIME.match(attachment.attached_at)
    assert attachment.attachment_id and attachment.host_name

    # list_server_block_devices: one entry per disk, id == volume id, free slots one fewer.
    after = sdk.block_devices(ecs, server_id)
    quantity = after.attachable_quantity
    assert quantity.free_disk == before.attachable_quantity.free_disk - 1
    assert isinstance(quantity.free_scsi, int) and isinstance(quantity.free_blk, int)
    devices = {d.volume_id: d for d in after.volume_attachments}
    assert set(devices) == {system, volume_id}
    data = devices[volume_id]
    assert (data.id, data.server_id, data.size, data.device) == (
        volume_id,
        server_id,
        12,
        "/dev/vdb",
    )
    assert data.boot_index != 0 and data.bus in ("virtio", "scsi") and data.pci_address
    boot = devices[system]
    assert (boot.boot_index, boot.device, boot.size, boot.id) == (0, "/dev/vda", 40, system)

    shown = _show_device(ecs, server_id, volume_id)
    assert shown == data

    short = ecs.list_server_volume_attachments(
        ecs_model.ListServerVolumeAttachmentsRequest(server_id=server_id)
    ).volume_attachments
    assert {(a.id, a.volume_id, a.server_id, a.device) for a in short} == {
        (system, system, server_id, "/dev/vda"),
        (volume_id, volume_id, server_id, "/dev/vdb"),
    }
    on_server = sdk.show_server(ecs, server_id).os_extended_volumesvolumes_attached
    assert {(a.id, a.boot_index, a.device) for a in on_server} == {
        (system, "0", "/dev/vda"),
        (volume_id, "-1", "/dev/vdb"),
    }

    detached = sdk.detach(ecs, server_id, volume_id)
    assert (detached.status, detached.job_type) == ("SUCCESS", "detachVolume")
    assert detached.entities.server_id == server_id
    volume = sdk.show_volume(evs, volume_id)
    assert (volume.status, volume.attachments) == ("available", [])
    assert sdk.attached_volume_ids(ecs, server_id) == {system}
    assert sdk.block_devices(ecs, server_id).attachable_quantity == before.attachable_quantity

    error = sdk.expect_error(lambda: _show_device(ecs, server_id, volume_id), 400, "Ecs.1000")
    assert "itemNotFound" in error.error_msg


def test_requested_device_is_used_and_scsi_names_are_rewritten(
    ecs: sdk.EcsClient, evs: sdk.EvsClient
) -> None:
    [server_id] = sdk.create_servers(ecs, name=sdk.unique("dev"))
    first = sdk.create_volume(evs, name=sdk.unique("dev"))
    second = sdk.create_volume(evs, name=sdk.unique("dev"))
    assert sdk.attach(ecs, server_id, first, device="/dev/sdd").status == "SUCCESS"
    assert _show_device(ecs, server_id, first).device == "/dev/vdd"
    # The next disk without a device takes the first free slot.
    assert sdk.attach(ecs, server_id, second).status == "SUCCESS"
    assert _show_device(ecs, server_id, second).device == "/dev/vdb"

    third = sdk.create_volume(evs, name=sdk.unique("dev"))
    sdk.expect_error(lambda: sdk.attach(ecs, server_id, third, device="/dev/vdd"), 400, "Ecs.0005")
    assert sdk.show_volume(evs, third).status == "available"


def test_detach_with_delete_flag(ecs: sdk.EcsClient, evs: sdk.EvsClient) -> None:
    [server_id] = sdk.create_servers(ecs, name=sdk.unique("force"))
    volume_id = sdk.create_volume(evs, name=sdk.unique("force"))
    assert sdk.attach(ecs, server_id, volume_id).status == "SUCCESS"

    job = sdk.detach(ecs, server_id, volume_id, delete_flag="1")
    assert (job.status, job.job_type) == ("SUCCESS", "detachVolume")
    assert sdk.show_volume(evs, volume_id).status == "available"

    assert sdk.attach(ecs, server_id, volume_id).status == "SUCCESS"
    assert sdk.detach(ecs, server_id, volume_id, delete_flag="0").status == "SUCCESS"
    assert sdk.show_volume(evs, volume_id).status == "available"

    # delete_flag is "0" or "1"; a system disk can never be forced off.
    assert sdk.attach(ecs, server_id, volume_id).status == "SUCCESS"
    sdk.expect_error(lambda: sdk.detach(ecs, server_id, volume_id, "2"), 400, "Ecs.0005")
    system = sdk.system_disk_id(ecs, server_id)
    sdk.expect_error(lambda: sdk.detach(ecs, server_id, system, "1"), 400, "Ecs.0102")
    assert sdk.attached_volume_ids(ecs, server_id) == {system, volume_id}


def test_a_non_shared_disk_attaches_to_one_server_only(
    ecs: sdk.EcsClient, evs: sdk.EvsClient
) -> None:
    first, second = sdk.create_servers(ecs, count=2, name=sdk.unique("excl"))
    volume_id = sdk.create_volume(evs, name=sdk.unique("excl"))
    assert sdk.attach(ecs, first, volume_id).status == "SUCCESS"

    sdk.expect_error(lambda: sdk.attach(ecs, second, volume_id), 400, "Ecs.0103")
    # Attaching it again where it already is has its own code.
    sdk.expect_error(lambda: sdk.attach(ecs, first, volume_id), 400, "Ecs.0057")
    volume = sdk.show_volume(evs, volume_id)
    assert volume.status == "in-use"
    assert [a.server_id for a in volume.attachments] == [first]
    assert volume_id not in sdk.attached_volume_ids(ecs, second)

    # A non-shared disk cannot be batch-attached at all.
    other = sdk.create_volume(evs, name=sdk.unique("excl"))
    sdk.expect_error(lambda: sdk.batch_attach(ecs, other, [second]), 400, "Ecs.0103")
    assert sdk.show_volume(evs, other).status == "available"


def test_system_disk_detaches_only_when_shutoff(ecs: sdk.EcsClient, evs: sdk.EvsClient) -> None:
    [server_id] = sdk.create_servers(ecs, name=sdk.unique("sys"))
    system = sdk.system_disk_id(ecs, server_id)

    sdk.expect_error(lambda: sdk.detach(ecs, server_id, system), 400, "Ecs.0100")
    assert sdk.show_volume(evs, system).status == "in-use"
    assert sdk.attached_volume_ids(ecs, server_id) == {system}

    assert sdk.stop_servers(ecs, [server_id]).status == "SUCCESS"
    assert sdk.detach(ecs, server_id, system).status == "SUCCESS"
    volume = sdk.show_volume(evs, system)
    assert (volume.status, volume.attachments) == ("available", [])
    assert sdk.attached_volume_ids(ecs, server_id) == set()
    # A stopped server still takes a disk.
    assert sdk.attach(ecs, server_id, system, device="/dev/vda").status == "SUCCESS"
    assert sdk.show_volume(evs, system).status == "in-use"


def test_attach_and_detach_errors(
    ecs: sdk.EcsClient, evs: sdk.EvsClient, service: RunningService
) -> None:
    [server_id] = sdk.create_servers(ecs, name=sdk.unique("aerr"))
    volume_id = sdk.create_volume(evs, name=sdk.unique("aerr"))

    error = sdk.expect_error(lambda: sdk.attach(ecs, server_id, MISSING), 404, "EVS.5404")
    assert MISSING in error.error_msg
    error = sdk.expect_error(lambda: sdk.attach(ecs, MISSING, volume_id), 404, "Ecs.0114")
    assert MISSING in error.error_msg
    sdk.expect_error(lambda: sdk.detach(ecs, server_id, volume_id), 400, "Ecs.0111")
    sdk.expect_error(lambda: sdk.detach(ecs, MISSING, volume_id), 404, "Ecs.0114")
    sdk.expect_error(lambda: sdk.detach(ecs, server_id, MISSING), 404, "EVS.5404")
    sdk.expect_error(lambda: sdk.block_devices(ecs, MISSING), 404, "Ecs.0114")
    sdk.expect_error(lambda: _show_device(ecs, MISSING, volume_id), 404, "Ecs.0114")
    sdk.expect_error(
        lambda: ecs.list_server_volume_attachments(
            ecs_model.ListServerVolumeAttachmentsRequest(server_id=MISSING)
        ),
        404,
        "Ecs.0114",
    )

    path = f"/v1/{service.project_id}/cloudservers/{server_id}/attachvolume"
    bodies: tuple[dict[str, Any], ...] = (
        {"volumeAttachment": {}},
        {"volumeAttachment": {"volumeId": 7}},
        {"volumeAttachment": {"volumeId": volume_id, "colour": "red"}},
        {"volumeAttachment": [volume_id]},
        {},
    )
    for body in bodies:
        response = signed_http.request(service, "POST", path, body=body)
        signed_http.assert_service_error(response, 400, "Ecs.0005")

    # dry_run checks everything and changes nothing.
    response = signed_http.request(
        service, "POST", path, body={"volumeAttachment": {"volumeId": volume_id}, "dry_run": True}
    )
    assert response.status_code == 202, response.text
    assert sdk.show_volume(evs, volume_id).status == "available"
    assert volume_id not in sdk.attached_volume_ids(ecs, server_id)


def test_a_disk_attached_in_the_system_slot_is_the_system_disk(
    ecs: sdk.EcsClient, evs: sdk.EvsClient
) -> None:
    [server_id] = sdk.create_servers(ecs, name=sdk.unique("slot"))
    system = sdk.system_disk_id(ecs, server_id)
    assert sdk.stop_servers(ecs, [server_id]).status == "SUCCESS"
    assert sdk.detach(ecs, server_id, system).status == "SUCCESS"

    replacement = sdk.create_volume(evs, size=40, name=sdk.unique("root"))
    assert sdk.attach(ecs, server_id, replacement, device="/dev/vda").status == "SUCCESS"
    assert sdk.system_disk_id(ecs, server_id) == replacement
    assert sdk.start_servers(ecs, [server_id]).status == "SUCCESS"
    # Like the original system disk, it comes off only while the server is stopped.
    sdk.expect_error(
        lambda: ecs.detach_server_volume(
            ecs_model.DetachServerVolumeRequest(server_id=server_id, volume_id=replacement)
        ),
        400,
        "Ecs.0100",
    )


def test_a_disk_attaches_only_within_its_availability_zone(
    ecs: sdk.EcsClient, evs: sdk.EvsClient
) -> None:
    [server_id] = sdk.create_servers(ecs, name=sdk.unique("zone"))  # in cn-north-4a
    option = evs_model.CreateVolumeOption(
        availability_zone="cn-north-4b", volume_type="SSD", size=10, multiattach=True
    )
    created = evs.create_volume(
        evs_model.CreateVolumeRequest(body=evs_model.CreateVolumeRequestBody(volume=option))
    )
    assert sdk.wait_job(evs, created.job_id).status == "SUCCESS"
    elsewhere = created.volume_ids[0]
    sdk.expect_error(lambda: sdk.attach(ecs, server_id, elsewhere), 400, "Ecs.0121")
    sdk.expect_error(lambda: sdk.batch_attach(ecs, elsewhere, [server_id]), 400, "Ecs.0121")
    assert sdk.show_volume(evs, elsewhere).status == "available"


def test_a_shared_disk_never_takes_the_system_slot(ecs: sdk.EcsClient, evs: sdk.EvsClient) -> None:
    [server_id] = sdk.create_servers(ecs, name=sdk.unique("noshare"))
    assert sdk.stop_servers(ecs, [server_id]).status == "SUCCESS"
    assert sdk.detach(ecs, server_id, sdk.system_disk_id(ecs, server_id)).status == "SUCCESS"
    shared = sdk.create_volume(evs, shared=True, size=40)
    sdk.expect_error(lambda: sdk.attach(ecs, server_id, shared, device="/dev/vda"), 400, "Ecs.0005")
    assert sdk.attach(ecs, server_id, shared).status == "SUCCESS"  # as a data disk it may
