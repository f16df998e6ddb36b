"""The centre of the product: detaching one shared disk from many servers in one call."""

from __future__ import annotations

from huaweicloudsdkecs.v2 import model as ecs_model
from huaweicloudsdkevs.v2 import model as evs_model

from tests.support import sdk


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
