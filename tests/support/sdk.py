"""Helpers that drive localecs through the official Huawei SDK, as a user would."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from typing import Any

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkcore.http.http_handler import HttpHandler
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


def server_spec(
    name: str, count: int = 1, data_volumes: list[Any] | None = None, **fields: Any
) -> Any:
    """A v1.1 server body with sensible defaults; `fields` add or override PrePaidServer's."""
    return ecs_model.PrePaidServer(
        **{
            "image_ref": "img-ubuntu-22.04",
            "flavor_ref": "s6.small.1",
            "name": name,
            "vpcid": "vpc-1",
            "nics": [ecs_model.PrePaidServerNic(subnet_id="subnet-1")],
            "root_volume": ecs_model.PrePaidServerRootVolume(volumetype="SSD", size=40),
            "data_volumes": data_volumes,
            "count": count,
            **fields,
        }
    )


def create_servers(
    ecs: EcsClient, count: int = 1, name: str = "srv", data_volumes: list[Any] | None = None
) -> list[str]:
    """Creates servers (v1.1) and waits for them to be ACTIVE; returns their ids."""
    server = server_spec(name, count, data_volumes)
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


# --- Reads and single operations shared by the API tests ------------------------------------

JOB_ID = re.compile(r"^[0-9a-f]{32}$")
JOB_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def expect_error(call: Callable[[], Any], status: int, code: str) -> ClientRequestException:
    """Runs an SDK call that must be rejected with exactly this status and error code."""
    try:
        result = call()
    except ClientRequestException as error:
        assert (error.status_code, error.error_code) == (status, code), str(error)
        assert error.error_msg, str(error)
        return error
    raise AssertionError(f"expected {status} {code}, got success: {result}")


def show_volume(evs: EvsClient, volume_id: str) -> Any:
    return evs.show_volume(evs_model.ShowVolumeRequest(volume_id=volume_id)).volume


def show_server(ecs: EcsClient, server_id: str) -> Any:
    return ecs.show_server(ecs_model.ShowServerRequest(server_id=server_id)).server


def block_devices(ecs: EcsClient, server_id: str) -> Any:
    return ecs.list_server_block_devices(
        ecs_model.ListServerBlockDevicesRequest(server_id=server_id)
    )


def attached_volume_ids(ecs: EcsClient, server_id: str) -> set[str]:
    return {d.volume_id for d in block_devices(ecs, server_id).volume_attachments}


def system_disk_id(ecs: EcsClient, server_id: str) -> str:
    [system] = [d for d in block_devices(ecs, server_id).volume_attachments if d.boot_index == 0]
    return str(system.volume_id)


def attach(ecs: EcsClient, server_id: str, volume_id: str, device: str | None = None) -> Any:
    option = ecs_model.AttachServerVolumeOption(volume_id=volume_id, device=device)
    response = ecs.attach_server_volume(
        ecs_model.AttachServerVolumeRequest(
            server_id=server_id, body=ecs_model.AttachServerVolumeRequestBody(option)
        )
    )
    return wait_job(ecs, response.job_id)


def detach(ecs: EcsClient, server_id: str, volume_id: str, delete_flag: str | None = None) -> Any:
    response = ecs.detach_server_volume(
        ecs_model.DetachServerVolumeRequest(
            server_id=server_id, volume_id=volume_id, delete_flag=delete_flag
        )
    )
    return wait_job(ecs, response.job_id)


def stop_servers(ecs: EcsClient, server_ids: list[str]) -> Any:
    option = ecs_model.BatchStopServersOption(
        servers=[ecs_model.ServerId(id=s) for s in server_ids]
    )
    response = ecs.batch_stop_servers(
        ecs_model.BatchStopServersRequest(body=ecs_model.BatchStopServersRequestBody(option))
    )
    return wait_job(ecs, response.job_id)


def start_servers(ecs: EcsClient, server_ids: list[str]) -> Any:
    option = ecs_model.BatchStartServersOption(
        servers=[ecs_model.ServerId(id=s) for s in server_ids]
    )
    response = ecs.batch_start_servers(
        ecs_model.BatchStartServersRequest(body=ecs_model.BatchStartServersRequestBody(option))
    )
    return wait_job(ecs, response.job_id)


def delete_servers(ecs: EcsClient, server_ids: list[str], delete_volume: bool = False) -> Any:
    body = ecs_model.DeleteServersRequestBody(
        servers=[ecs_model.ServerId(id=s) for s in server_ids], delete_volume=delete_volume
    )
    response = ecs.delete_servers(ecs_model.DeleteServersRequest(body=body))
    return wait_job(ecs, response.job_id)


def data_volume(size: int = 10, shared: bool = False, volumetype: str = "SSD") -> Any:
    return ecs_model.PrePaidServerDataVolume(volumetype=volumetype, size=size, multiattach=shared)


class RecordingHandler:
    """Keeps the status and X-Request-Id of every response an SDK client receives."""

    def __init__(self) -> None:
        self.responses: list[tuple[int, str | None]] = []

    def __call__(self, **kwargs: Any) -> None:
        response = kwargs["response"]
        self.responses.append((response.status_code, response.headers.get("X-Request-Id")))

    @property
    def last(self) -> tuple[int, str | None]:
        return self.responses[-1]


def recording_clients(
    endpoint: str, ak: str, sk: str, project_id: str
) -> tuple[EcsClient, EvsClient, RecordingHandler]:
    recorder = RecordingHandler()
    credentials = BasicCredentials(ak, sk, project_id)
    handler = HttpHandler().add_response_handler(recorder)
    ecs = (
        EcsClient.new_builder()
        .with_credentials(credentials)
        .with_endpoint(endpoint)
        .with_http_handler(handler)
        .build()
    )
    evs = (
        EvsClient.new_builder()
        .with_credentials(credentials)
        .with_endpoint(endpoint)
        .with_http_handler(handler)
        .build()
    )
    return ecs, evs, recorder


def unique(prefix: str) -> str:
    """A name no other test uses, so name filters see only this test's resources."""
    return f"{prefix}-{secrets.token_hex(4)}"
