"""The batch-detach story with the official SDK, against localecs (or the real cloud).

Run `localecs serve`, then, with the values it printed:

    LOCALECS_ENDPOINT=http://127.0.0.1:8080 LOCALECS_ACCESS_KEY=... LOCALECS_SECRET_KEY=... \
    LOCALECS_PROJECT_ID=... python examples/batch_detach_story.py
"""

from __future__ import annotations

import os
import time
from typing import Any

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkecs.v2 import EcsClient
from huaweicloudsdkecs.v2 import model as ecs
from huaweicloudsdkevs.v2 import EvsClient
from huaweicloudsdkevs.v2 import model as evs


def wait(client: Any, job_id: str) -> Any:
    """Polls a job until it is final, as any client of the real cloud must."""
    request = ecs.ShowJobRequest(job_id=job_id)
    while (job := client.show_job(request)).status not in ("SUCCESS", "FAIL"):
        time.sleep(0.2)
    return job


def main() -> None:
    endpoint = os.environ.get("LOCALECS_ENDPOINT", "http://127.0.0.1:8080")
    credentials = BasicCredentials(
        os.environ["LOCALECS_ACCESS_KEY"],
        os.environ["LOCALECS_SECRET_KEY"],
        os.environ["LOCALECS_PROJECT_ID"],
    )
    ecs_client = (
        EcsClient.new_builder().with_credentials(credentials).with_endpoint(endpoint).build()
    )
    evs_client = (
        EvsClient.new_builder().with_credentials(credentials).with_endpoint(endpoint).build()
    )

    # 1. Three servers, each with a system disk.
    server = ecs.PrePaidServer(
        image_ref="image-1",
        flavor_ref="s6.small.1",
        name="web",
        vpcid="vpc-1",
        nics=[ecs.PrePaidServerNic(subnet_id="subnet-1")],
        root_volume=ecs.PrePaidServerRootVolume(volumetype="SSD", size=40),
        count=3,
    )
    created = ecs_client.create_servers(
        ecs.CreateServersRequest(body=ecs.CreateServersRequestBody(server=server))
    )
    print("create servers:", wait(ecs_client, created.job_id).status)
    servers = created.server_ids

    # 2. One shared disk.
    option = evs.CreateVolumeOption(
        availability_zone="cn-north-4a",
        volume_type="SSD",
        size=100,
        multiattach=True,
        name="shared",
    )
    disk = evs_client.create_volume(
        evs.CreateVolumeRequest(body=evs.CreateVolumeRequestBody(volume=option))
    )
    print("create disk:", wait(evs_client, disk.job_id).status)
    volume_id = disk.volume_ids[0]

    # 3. Attach it to all three servers in one call.
    attach = ecs_client.batch_attach_sharable_volumes(
        ecs.BatchAttachSharableVolumesRequest(
            volume_id=volume_id,
            body=ecs.BatchAttachSharableVolumesRequestBody(
                serverinfo=[ecs.BatchAttachSharableVolumesOption(server_id=s) for s in servers]
            ),
        )
    )
    print("batch attach:", wait(ecs_client, attach.job_id).status)

    # 4. Detach it from two of them in one call; one sub-job per server.
    detach = ecs_client.batch_detach_volumes(
        ecs.BatchDetachVolumesRequest(
            volume_id=volume_id, body=ecs.VolumeBatchDetachRequest(serverinfo=servers[:2])
        )
    )
    job = wait(ecs_client, detach.job_id)
    print("batch detach:", job.status)
    for sub_job in job.entities.sub_jobs:
        print("  sub-job", sub_job.job_id, sub_job.entities.server_id, sub_job.status)

    # 5. What the servers and the disk say now.
    for server_id in servers:
        devices = ecs_client.list_server_block_devices(
            ecs.ListServerBlockDevicesRequest(server_id=server_id)
        ).volume_attachments
        print("server", server_id, "disks:", sorted(d.device for d in devices))
    volume = evs_client.show_volume(evs.ShowVolumeRequest(volume_id=volume_id)).volume
    print("disk", volume_id, volume.status, "on", [a.server_id for a in volume.attachments])


if __name__ == "__main__":
    main()
