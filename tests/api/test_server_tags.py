"""ECS server tags through the official SDK: batch create, batch delete, show, and server_tags
on create servers, kept consistent with ShowServer's tags and the list filter."""

from __future__ import annotations

import httpx
from huaweicloudsdkecs.v2 import model as m

from tests.conftest import RunningService
from tests.support import sdk, signed_http


def _tags(ecs: sdk.EcsClient, server_id: str) -> dict[str, str]:
    shown = ecs.show_server_tags(m.ShowServerTagsRequest(server_id=server_id))
    return {t.key: t.value for t in shown.tags}


def _create_tags(ecs: sdk.EcsClient, server_id: str, **tags: str) -> object:
    body = m.BatchCreateServerTagsRequestBody(
        action="create", tags=[m.BatchAddServerTag(key=k, value=v) for k, v in tags.items()]
    )
    return ecs.batch_create_server_tags(
        m.BatchCreateServerTagsRequest(server_id=server_id, body=body)
    )


def _delete_tags(ecs: sdk.EcsClient, server_id: str, tags: list[m.ServerTag]) -> object:
    body = m.BatchDeleteServerTagsRequestBody(action="delete", tags=tags)
    return ecs.batch_delete_server_tags(
        m.BatchDeleteServerTagsRequest(server_id=server_id, body=body)
    )


def _create_tagged(ecs: sdk.EcsClient, name: str, **tags: str) -> str:
    server = sdk.server_spec(
        name, server_tags=[m.PrePaidServerTag(key=k, value=v) for k, v in tags.items()]
    )
    response = ecs.create_servers(
        m.CreateServersRequest(body=m.CreateServersRequestBody(server=server))
    )
    assert sdk.wait_job(ecs, response.job_id).status == "SUCCESS"
    return str(response.server_ids[0])


def test_create_show_overwrite_and_delete(ecs: sdk.EcsClient) -> None:
    name = sdk.unique("tag")
    server_id = _create_tagged(ecs, name, team="a")
    assert _tags(ecs, server_id) == {"team": "a"}

    response = _create_tags(ecs, server_id, env="prod", owner="ops_1")
    assert response.status_code == 204  # type: ignore[attr-defined]
    _create_tags(ecs, server_id, team="b", env="prod")  # overwrite one, repeat one: idempotent
    assert _tags(ecs, server_id) == {"team": "b", "env": "prod", "owner": "ops_1"}
    # ShowServer and the list filter see the same tags
    assert sorted(sdk.show_server(ecs, server_id).tags) == ["env=prod", "owner=ops_1", "team=b"]
    listed = ecs.list_servers_details(m.ListServersDetailsRequest(name=name, tags="team=b"))
    assert [s.id for s in listed.servers] == [server_id]

    # by key alone, by key and matching value; a wrong value or an absent key changes nothing
    _delete_tags(
        ecs,
        server_id,
        [
            m.ServerTag(key="env"),
            m.ServerTag(key="owner", value="someone-else"),
            m.ServerTag(key="absent", value="x"),
        ],
    )
    assert _tags(ecs, server_id) == {"team": "b", "owner": "ops_1"}
    _delete_tags(ecs, server_id, [m.ServerTag(key="owner", value="ops_1")])
    assert _tags(ecs, server_id) == {"team": "b"}
    listed = ecs.list_servers_details(m.ListServersDetailsRequest(name=name, tags="team=a"))
    assert listed.count == 0


def test_limits_and_bad_input(ecs: sdk.EcsClient) -> None:
    server_id = _create_tagged(ecs, sdk.unique("tag"), team="a")
    nine = {f"k{i}": str(i) for i in range(9)}
    _create_tags(ecs, server_id, **nine)
    assert len(_tags(ecs, server_id)) == 10
    sdk.expect_error(lambda: _create_tags(ecs, server_id, one_more="x"), 400, "Ecs.0005")
    _create_tags(ecs, server_id, k0="changed")  # overwriting stays within 10
    for bad in ({"": "x"}, {"k" * 37: "x"}, {"bad key": "x"}, {"ok": "v" * 44}, {"ok": "a b"}):

        def create_bad(bad: dict[str, str] = bad) -> object:
            return _create_tags(ecs, server_id, **bad)

        sdk.expect_error(create_bad, 400, "Ecs.0005")
    assert _tags(ecs, server_id)["k0"] == "changed"
    assert len(_tags(ecs, server_id)) == 10
    # CJK, '.', '-' and '_' are allowed, as documented
    _delete_tags(ecs, server_id, [m.ServerTag(key=f"k{i}") for i in range(9)])
    _create_tags(ecs, server_id, **{"项目-x_1": "v1.2-b_c"})
    assert _tags(ecs, server_id) == {"team": "a", "项目-x_1": "v1.2-b_c"}
    missing = "3ba0c7c0-0000-4000-8000-000000000000"
    sdk.expect_error(lambda: _tags(ecs, missing), 404, "Ecs.0114")
    sdk.expect_error(lambda: _create_tags(ecs, missing, a="b"), 404, "Ecs.0114")
    sdk.expect_error(lambda: _delete_tags(ecs, missing, [m.ServerTag(key="a")]), 404, "Ecs.0114")


def test_create_servers_validates_server_tags(ecs: sdk.EcsClient) -> None:
    server = sdk.server_spec(
        sdk.unique("tag"), server_tags=[m.PrePaidServerTag(key="bad key", value="x")]
    )
    request = m.CreateServersRequest(body=m.CreateServersRequestBody(server=server))
    sdk.expect_error(lambda: ecs.create_servers(request), 400, "Ecs.0005")
    many = [m.PrePaidServerTag(key=f"k{i}", value="v") for i in range(11)]
    server = sdk.server_spec(sdk.unique("tag"), server_tags=many)
    request = m.CreateServersRequest(body=m.CreateServersRequestBody(server=server))
    sdk.expect_error(lambda: ecs.create_servers(request), 400, "Ecs.0005")


def test_bad_bodies_over_plain_http(service: RunningService, ecs: sdk.EcsClient) -> None:
    server_id = _create_tagged(ecs, sdk.unique("tag"), team="a")
    path = f"/v1/{service.project_id}/cloudservers/{server_id}/tags/action"
    bodies = [
        {"action": "update", "tags": [{"key": "a", "value": "b"}]},
        {"action": "create", "tags": []},
        {"action": "create", "tags": [{"key": "a"}]},  # create needs a value
        {"action": "create", "tags": [{"key": "a", "value": "1"}, {"key": "a", "value": "2"}]},
        {"action": "create", "tags": [{"key": 1, "value": "b"}]},
        {"tags": [{"key": "a", "value": "b"}]},
    ]
    for body in bodies:
        response = signed_http.request(service, "POST", path, body=body)
        signed_http.assert_service_error(response, 400, "Ecs.0005")
    assert _tags(ecs, server_id) == {"team": "a"}
    unsigned = httpx.get(f"{service.endpoint}/v1/{service.project_id}/cloudservers/x/tags")
    assert unsigned.status_code == 401
