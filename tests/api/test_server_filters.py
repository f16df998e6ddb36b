"""list_servers_details filters over tags and addresses."""

from __future__ import annotations

import secrets

from huaweicloudsdkecs.v2 import model as ecs_model

from tests.support import sdk


def _create(ecs: sdk.EcsClient, name: str, team: str, ip: str) -> str:
    server = sdk.server_spec(
        name,
        nics=[ecs_model.PrePaidServerNic(subnet_id="subnet-1", ip_address=ip)],
        server_tags=[ecs_model.PrePaidServerTag(key="team", value=team)],
    )
    response = ecs.create_servers(
        ecs_model.CreateServersRequest(body=ecs_model.CreateServersRequestBody(server=server))
    )
    assert sdk.wait_job(ecs, response.job_id).status == "SUCCESS"
    return str(response.server_ids[0])


def test_tag_and_address_filters(ecs: sdk.EcsClient) -> None:
    prefix = f"flt{secrets.token_hex(3)}"
    a = _create(ecs, f"{prefix}-a", "alpha", "10.9.1.15")
    b = _create(ecs, f"{prefix}-b", "beta", "10.9.1.150")

    def names(**query: object) -> tuple[int, set[str]]:
        listed = ecs.list_servers_details(ecs_model.ListServersDetailsRequest(name=prefix, **query))
        return listed.count, {s.id for s in listed.servers}

    assert names(tags="team=alpha") == (1, {a})
    assert names(not_tags="team=alpha") == (1, {b})
    assert names(ip="10.9.1.15") == (2, {a, b})  # a substring match, as documented
    assert names(ip_eq="10.9.1.15") == (1, {a})
    assert names(ip_eq="10.9.1.1") == (0, set())
    assert names(tags="team=alpha", ip_eq="10.9.1.150") == (0, set())
    shown = ecs.show_server(ecs_model.ShowServerRequest(server_id=a)).server
    assert shown.tags == ["team=alpha"]
    assert shown.addresses["vpc-1"][0].addr == "10.9.1.15"
