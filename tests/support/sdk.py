"""Helpers that drive localecs through the official Huawei SDK, as a user would."""

from __future__ import annotations

import time
from typing import Any

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkecs.v2 import EcsClient
from huaweicloudsdkecs.v2 import model as ecs_model
from huaweicloudsdkevs.v2 import EvsClient
from huaweicloudsdkevs.v2 import model as evs_model

__all__ = ["EcsClient", "EvsClient", "ecs_client", "evs_client"]

FINAL = {"SUCCESS", "FAIL"}


def ecs_client(endpoint: str, ak: str, sk: str, project_id: str) -> EcsClient:
    credentials = BasicCredentials(ak, sk, project_id)
    return EcsClient.new_builder().with_credentials(credentials).with_endpoint(endpoint).build()


def evs_client(endpoint: str, ak: str, sk: str, project_id: str) -> EvsClient:
    credentials = BasicCredentials(ak, sk, project_id)
    return EvsClient.new_builder().with_credentials(credentials).with_endpoint(endpoint).build()


def wait_job(client: EcsClient | EvsClient, job_id: str, timeout: float = 20.0) -> Any:
    """Polls show_job until SUCCESS or FAIL; returns the final ShowJobResponse."""
    is_ecs = isinstance(client, EcsClient)
    request = (
        ecs_model.ShowJobRequest(job_id=job_id)
        if is_ecs
        else evs_model.ShowJobRequest(job_id=job_id)
    )
    deadline = time.monotonic() + timeout
    while True:
        job = client.show_job(request)
        if job.status in FINAL:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job.status} after {timeout}s")
        time.sleep(0.05)


def create_servers(
    ecs: EcsClient, count: int = 1, name: str = "srv", data_volumes: list[Any] | None = None
) -> list[str]:
    """Creates servers (v1.1) and waits for them to be ACTIVE; returns their ids."""
    server = ecs_model.PrePaidServer(
        image_ref="img-ubuntu-22.04",
        flavor_ref="s6.small.1",
        name=name,
        vpcid="vpc-1",
        nics=[ecs_model.PrePaidServerNic(subnet_id="subnet-1")],
        root_volume=ecs_model.PrePaidServerRootVolume(volumetype="SSD", size=40),
        data_volumes=data_volumes,
        count=count,
    )
    response = ecs.create_servers(
        ecs_model.CreateServersRequest(body=ecs_model.CreateServersRequestBody(server=server))
    )
    job = wait_job(ecs, response.job_id)
    assert job.status == "SUCCESS", job
    return list(response.server_ids)


def create_volume(
    evs: EvsClient, *, shared: bool = False, size: int = 10, name: str = "disk"
) -> str:
    """Creates one disk (v2.1) and waits for it to be available; returns its id."""
    option = evs_model.CreateVolumeOption(
        availability_zone="cn-north-4a", volume_type="SSD", size=size, multiattach=shared, name=name
    )
    response = evs.create_volume(
        evs_model.CreateVolumeRequest(body=evs_model.CreateVolumeRequestBody(volume=option))
    )
    job = wait_job(evs, response.job_id)
    assert job.status == "SUCCESS", job
    return str(response.volume_ids[0])


def batch_attach(ecs: EcsClient, volume_id: str, server_ids: list[str]) -> Any:
    body = ecs_model.BatchAttachSharableVolumesRequestBody(
        serverinfo=[ecs_model.BatchAttachSharableVolumesOption(server_id=s) for s in server_ids]
    )
    response = ecs.batch_attach_sharable_volumes(
        ecs_model.BatchAttachSharableVolumesRequest(volume_id=volume_id, body=body)
    )
    return wait_job(ecs, response.job_id)


def batch_detach(ecs: EcsClient, volume_id: str, server_ids: list[str]) -> Any:
    body = ecs_model.VolumeBatchDetachRequest(serverinfo=server_ids)
    response = ecs.batch_detach_volumes(
        ecs_model.BatchDetachVolumesRequest(volume_id=volume_id, body=body)
    )
    return wait_job(ecs, response.job_id)
