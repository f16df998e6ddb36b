"""X-Client-Token on create calls: a retry gets the first answer and creates nothing more."""

from __future__ import annotations

import uuid

import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkecs.v2 import model as ecs_model
from huaweicloudsdkevs.v2 import model as evs_model

from tests.support import sdk


def _create_servers(ecs: sdk.EcsClient, name: str, token: str) -> ecs_model.CreateServersResponse:
    return ecs.create_servers(
        ecs_model.CreateServersRequest(
            x_client_token=token,
            body=ecs_model.CreateServersRequestBody(server=sdk.server_spec(name)),
        )
    )


def test_create_servers_retry_returns_the_first_answer(ecs: sdk.EcsClient) -> None:
    token = str(uuid.uuid4())
    name = f"idem-{token[:8]}"
    first = _create_servers(ecs, name, token)
    retry = _create_servers(ecs, name, token)
    assert (retry.job_id, retry.server_ids) == (first.job_id, first.server_ids)
    listed = ecs.list_servers_details(ecs_model.ListServersDetailsRequest(name=name))
    assert listed.count == 1

    with pytest.raises(ClientRequestException) as other:
        _create_servers(ecs, name + "-other", token)
    assert (other.value.status_code, other.value.error_code) == (400, "Ecs.0122")

    with pytest.raises(ClientRequestException) as malformed:
        _create_servers(ecs, name, "not-a-uuid")
    assert (malformed.value.status_code, malformed.value.error_code) == (400, "Ecs.0123")


def test_create_volume_retry_returns_the_first_answer(evs: sdk.EvsClient) -> None:
    token = str(uuid.uuid4())
    name = f"idem-{token[:8]}"

    def create(size: int, client_token: str = token) -> evs_model.CreateVolumeResponse:
        option = evs_model.CreateVolumeOption(
            availability_zone="cn-north-4a", volume_type="SSD", size=size, name=name
        )
        return evs.create_volume(
            evs_model.CreateVolumeRequest(
                x_client_token=client_token,
                body=evs_model.CreateVolumeRequestBody(volume=option),
            )
        )

    first = create(10)
    retry = create(10)
    assert (retry.job_id, retry.volume_ids) == (first.job_id, first.volume_ids)
    listed = evs.list_volumes(evs_model.ListVolumesRequest(name=name))
    assert listed.count == 1

    with pytest.raises(ClientRequestException) as other:
        create(20)
    assert (other.value.status_code, other.value.error_code) == (400, "EVS.2219")
    with pytest.raises(ClientRequestException) as malformed:
        create(10, client_token="abc")
    assert (malformed.value.status_code, malformed.value.error_code) == (400, "EVS.2218")
