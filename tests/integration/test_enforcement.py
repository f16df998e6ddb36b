"""The enforcement point on every ECS/EVS route, with restricted principals built from parsed
policies (what the identity work fills Principal with) over a real store, through the HTTP app.

The authenticator is replaced by one that answers a chosen principal: signatures have their own
tests; here the question is only what each principal may do."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from localecs.api.app import create_app
from localecs.auth.authenticate import Principal, SignedRequest
from localecs.auth.encryption import SecretBox
from localecs.bootstrap import ensure_credential
from localecs.clock import FixedClock
from localecs.config import BootstrapCredential
from localecs.domain.actions import CATALOGUE
from localecs.domain.policies import parse_policy
from localecs.errors import ApiError
from localecs.services import servers, volumes
from localecs.services.context import Context
from localecs.services.identity import IdentityService
from localecs.services.servers import DiskSpec, NicSpec, ServerSpec
from localecs.services.volumes import VolumeSpec
from localecs.store.tables import Job
from localecs.store.uow import Database

ACCOUNT = "acc-0001"
REGION = "cn-north-4"
MISSING = "00000000-0000-4000-8000-000000000000"
# One for the module: its tests share a store, and a store's secrets open with one key only.
SEALING_KEY = secrets.token_bytes(32)


class AppClient:
    """Calls the ASGI app in-process (no server, no lifespan: the routes need neither)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def request(self, method: str, url: str, content: bytes | None = None) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                return await client.request(method, url, content=content)

        return asyncio.run(send())


class ChosenPrincipal:
    """Stands in for the Authenticator: every request is made by ``principal``."""

    def __init__(self, principal: Principal) -> None:
        self.principal = principal

    def authenticate(self, request: SignedRequest, project_id: str | None = None) -> Principal:
        return self.principal


@dataclass
class World:
    client: AppClient
    caller: ChosenPrincipal
    db: Database
    project_id: str
    team_a: str  # a server tagged team=a in enterprise project ep-1
    team_b: str  # a server tagged team=b
    volume: str  # a shared disk tagged team=a
    foreign_server: str  # a server of another project

    def act_as(self, *policies: dict[str, Any], root: bool = False) -> None:
        self.caller.principal = Principal(
            "AK",
            self.project_id,
            is_root=root,
            policies=tuple(parse_policy(p) for p in policies),
            account_id=ACCOUNT,
            user_name="dev-alice",
        )

    def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        url = path.format(p=self.project_id)
        content = None if body is None else json.dumps(body).encode()
        return self.client.request(method, url, content=content)

    def job_count(self) -> int:
        with self.db.read() as repo:
            return int(repo.session.scalar(select(func.count()).select_from(Job)) or 0)


def _server(ctx: Context, project_id: str, tags: list[str], enterprise_project: str) -> str:
    spec = ServerSpec(
        name="s",
        image_id="img-ubuntu-22.04",
        flavor_id="s6.small.1",
        vpc_id="vpc-1",
        nics=[NicSpec("subnet-1")],
        root_volume=DiskSpec("SSD", 40),
        tags=tags,
        enterprise_project_id=enterprise_project,
    )
    return servers.create_servers(ctx, project_id, spec).server_ids[0]


@pytest.fixture
def world(db: Database) -> World:
    clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
    ctx = Context(db, clock, lambda: None, REGION)
    project_id, other_project = secrets.token_hex(16), secrets.token_hex(16)
    identity = IdentityService(db, clock, SecretBox(SEALING_KEY))
    for project in (project_id, other_project):
        fixed = BootstrapCredential(f"AK{project[:10]}", "sk", project, domain_name=f"a{project}")
        ensure_credential(identity, fixed, REGION)
    team_a = _server(ctx, project_id, ["team=a"], "ep-1")
    team_b = _server(ctx, project_id, ["team=b"], "0")
    foreign = _server(ctx, other_project, ["team=a"], "ep-1")
    volume = volumes.create_volumes(
        ctx,
        project_id,
        VolumeSpec("cn-north-4a", "SSD", 10, multiattach=True, tags={"team": "a"}),
    ).volume_ids[0]
    caller = ChosenPrincipal(Principal("AK", project_id))
    app = create_app(ctx, caller, 1024 * 1024, identity)  # type: ignore[arg-type]
    return World(AppClient(app), caller, db, project_id, team_a, team_b, volume, foreign)


def _routes(w: World) -> list[tuple[str, str, str, Any]]:
    """(operation, method, path, body): one request per ECS/EVS route."""
    a, vol = w.team_a, w.volume
    server = {
        "imageRef": "img-ubuntu-22.04",
        "flavorRef": "s6.small.1",
        "name": "new",
        "vpcid": "vpc-1",
        "nics": [{"subnet_id": "subnet-1"}],
        "root_volume": {"volumetype": "SSD", "size": 40},
    }
    disk = {"availability_zone": "cn-north-4a", "volume_type": "SSD", "size": 10}
    return [
        ("create_servers", "POST", "/v1.1/{p}/cloudservers", {"server": server}),
        ("create_post_paid_servers", "POST", "/v1/{p}/cloudservers", {"server": server}),
        ("list_servers_details", "GET", "/v1/{p}/cloudservers/detail", None),
        ("show_server", "GET", f"/v1/{{p}}/cloudservers/{a}", None),
        ("batch_stop_servers", "POST", "/v1/{p}/cloudservers/action",
         {"os-stop": {"servers": [{"id": a}]}}),
        ("batch_start_servers", "POST", "/v1/{p}/cloudservers/action",
         {"os-start": {"servers": [{"id": a}]}}),
        ("attach_server_volume", "POST", f"/v1/{{p}}/cloudservers/{a}/attachvolume",
         {"volumeAttachment": {"volumeId": vol}}),
        ("detach_server_volume", "DELETE", f"/v1/{{p}}/cloudservers/{a}/detachvolume/{vol}",
         None),
        ("batch_attach_sharable_volumes", "POST", f"/v1/{{p}}/batchaction/attachvolumes/{vol}",
         {"serverinfo": [{"server_id": a}]}),
        ("batch_detach_volumes", "POST", f"/v1/{{p}}/batchaction/detachvolumes/{vol}",
         {"serverinfo": [a]}),
        ("list_server_block_devices", "GET", f"/v1/{{p}}/cloudservers/{a}/block_device", None),
        ("show_server_block_device", "GET", f"/v1/{{p}}/cloudservers/{a}/block_device/{vol}",
         None),
        ("list_server_volume_attachments", "GET",
         f"/v1/{{p}}/cloudservers/{a}/os-volume_attachments", None),
        ("batch_create_server_tags", "POST", f"/v1/{{p}}/cloudservers/{a}/tags/action",
         {"action": "create", "tags": [{"key": "env", "value": "x"}]}),
        ("batch_delete_server_tags", "POST", f"/v1/{{p}}/cloudservers/{a}/tags/action",
         {"action": "delete", "tags": [{"key": "env"}]}),
        ("show_server_tags", "GET", f"/v1/{{p}}/cloudservers/{a}/tags", None),
        ("create_volume", "POST", "/v2.1/{p}/cloudvolumes", {"volume": disk}),
        ("create_volume", "POST", "/v2/{p}/cloudvolumes", {"volume": disk}),
        ("list_volumes", "GET", "/v2/{p}/cloudvolumes/detail", None),
        ("show_volume", "GET", f"/v2/{{p}}/cloudvolumes/{vol}", None),
        ("delete_volume", "DELETE", f"/v2/{{p}}/cloudvolumes/{vol}", None),
        ("delete_servers", "POST", "/v1/{p}/cloudservers/delete", {"servers": [{"id": a}]}),
    ]  # fmt: skip


def _route_templates(w: World) -> set[tuple[str, str]]:
    found = set()
    for route in w.client.app.routes:
        path = getattr(route, "path", "")
        if not path.startswith(("/v1", "/v2")) or path.endswith("/jobs/{job_id}"):
            continue
        for method in getattr(route, "methods", ()):
            found.add((method, path))
    return found


def test_every_route_is_in_the_table_and_the_catalogue(world: World) -> None:
    table = _routes(world)
    assert {op for op, *_ in table} == set(CATALOGUE)
    # every ECS/EVS route of the app (job polling aside) is exercised by a request below
    requests = [(method, path.format(p=world.project_id)) for _, method, path, _ in table]
    for method, template in _route_templates(world):
        pattern = re.compile("^" + re.sub(r"\\{[a-z_]+\\}", "[^/]+", re.escape(template)) + "$")
        assert any(m == method and pattern.match(p) for m, p in requests), (method, template)


def test_a_principal_without_policies_is_refused_everywhere(world: World) -> None:
    world.act_as()
    jobs_before = world.job_count()
    for operation, method, path, body in _routes(world):
        response = world.call(method, path, body)
        action = CATALOGUE[operation]
        expected = "EVS.2056" if path.startswith("/v2") else "Pdp.0001"
        assert response.status_code == 403, (operation, response.text)
        assert response.json() == {
            "error": {
                "code": expected,
                "message": f"Policy doesn't allow {action.name} to be performed.",
            }
        }, operation
        assert response.headers["X-Request-Id"]
    assert world.job_count() == jobs_before  # nothing was submitted


def test_allow_all_and_root_pass_every_check(world: World) -> None:
    for policies, root in (((), True), (({"Version": "1.1", "Statement": [
        {"Effect": "Allow", "Action": ["ecs:*:*", "evs:*:*"]}]},), False)):  # fmt: skip
        world.act_as(*policies, root=root)
        for operation, method, path, body in _routes(world)[:-2]:  # keep the disk and server
            response = world.call(method, path, body)
            assert response.status_code != 403, (operation, response.text)


def test_a_deny_wins_over_an_allow(world: World) -> None:
    world.act_as(
        {"Version": "1.1", "Statement": [{"Effect": "Allow", "Action": ["ecs:*:*"]}]},
        {"Version": "1.1", "Statement": [{"Effect": "Deny", "Action": ["ecs:cloudServers:get"]}]},
    )
    # ShowServer's role/policy alias is ecs:cloudServers:get: denying the alias denies it
    assert world.call("GET", f"/v1/{{p}}/cloudservers/{world.team_a}").status_code == 403
    assert world.call("GET", "/v1/{p}/cloudservers/detail").status_code == 200


TAG_A = {
    "Version": "1.1",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["ecs:cloudServers:detachVolume", "ecs:cloudServers:showServer"],
            "Condition": {"StringEquals": {"g:ResourceTag/team": ["a"]}},
        }
    ],
}


def test_a_tag_conditioned_allow_checks_every_server_of_a_batch(world: World) -> None:
    world.act_as(TAG_A)
    path = f"/v1/{{p}}/batchaction/detachvolumes/{world.volume}"
    jobs_before = world.job_count()
    for serverinfo in ([world.team_a, world.team_b], [world.team_b, world.team_a]):
        response = world.call("POST", path, {"serverinfo": serverinfo})
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "Pdp.0001"
    assert world.job_count() == jobs_before
    # only team=a: past authorization, to the usual rule (the disk is not attached: Ecs.0111)
    response = world.call("POST", path, {"serverinfo": [world.team_a]})
    assert response.json()["error"]["code"] == "Ecs.0111"


def test_a_denial_reveals_nothing_about_existence(world: World) -> None:
    world.act_as(TAG_A)
    # unknown, another project's (tagged team=a there) and an untagged server: the same answer
    for server_id in (MISSING, world.foreign_server, world.team_b):
        response = world.call("GET", f"/v1/{{p}}/cloudservers/{server_id}")
        assert response.status_code == 403, server_id
        assert response.json()["error"]["code"] == "Pdp.0001"
    assert world.call("GET", f"/v1/{{p}}/cloudservers/{world.team_a}").status_code == 200
    # with an unconditioned Allow, the usual 404 for both unknown and foreign ids
    world.act_as({"Version": "1.1", "Statement": [{"Effect": "Allow", "Action": ["*:*:*"]}]})
    for server_id in (MISSING, world.foreign_server):
        response = world.call("GET", f"/v1/{{p}}/cloudservers/{server_id}")
        assert (response.status_code, response.json()["error"]["code"]) == (404, "Ecs.0114")


def test_identity_policy_resource_urns(world: World) -> None:
    urn = f"ecs:{REGION}:{ACCOUNT}:instance:{world.team_a}"
    world.act_as(
        {
            "Version": "5.0",
            "Statement": [
                {"Effect": "Allow", "Action": ["ecs:cloudServers:showServer"], "Resource": [urn]},
                {
                    "Sid": "disks",
                    "Effect": "Allow",
                    "Action": ["evs:volumes:get", "evs:volumes:list"],
                    "Resource": [f"evs:*:{ACCOUNT}:volume:*"],
                },
            ],
        }
    )
    assert world.call("GET", f"/v1/{{p}}/cloudservers/{world.team_a}").status_code == 200
    assert world.call("GET", f"/v1/{{p}}/cloudservers/{world.team_b}").status_code == 403
    assert world.call("GET", f"/v2/{{p}}/cloudvolumes/{world.volume}").status_code == 200
    # list has no resource type: a URN-only statement does not cover it (Resource must be *)
    listed = world.call("GET", "/v2/{p}/cloudvolumes/detail")
    assert (listed.status_code, listed.json()["error"]["code"]) == (403, "EVS.2056")


def test_enterprise_project_region_user_and_volume_keys(world: World) -> None:
    def only(condition: dict[str, Any], action: str = "ecs:cloudServers:showServer") -> None:
        world.act_as(
            {
                "Version": "1.1",
                "Statement": [{"Effect": "Allow", "Action": [action], "Condition": condition}],
            }
        )

    only({"StringEquals": {"g:EnterpriseProjectId": ["ep-1"]}})
    assert world.call("GET", f"/v1/{{p}}/cloudservers/{world.team_a}").status_code == 200
    assert world.call("GET", f"/v1/{{p}}/cloudservers/{world.team_b}").status_code == 403
    only(
        {"StringStartWith": {"g:UserName": ["dev-"]}, "StringEquals": {"g:RequestedRegion": REGION}}
    )
    assert world.call("GET", f"/v1/{{p}}/cloudservers/{world.team_b}").status_code == 200
    only({"StringEquals": {"g:RequestedRegion": "eu-west-0"}})
    assert world.call("GET", f"/v1/{{p}}/cloudservers/{world.team_b}").status_code == 403
    only({"StringEquals": {"g:ResourceTag/team": "a"}}, "evs:volumes:get")
    assert world.call("GET", f"/v2/{{p}}/cloudvolumes/{world.volume}").status_code == 200
    only({"StringNotEquals": {"ecs:VolumeId": world.volume}}, "ecs:cloudServers:attach")
    attach = {"volumeAttachment": {"volumeId": world.volume}}
    response = world.call("POST", f"/v1/{{p}}/cloudservers/{world.team_a}/attachvolume", attach)
    assert response.status_code == 403
    # creating: the requested enterprise project and tags are the condition keys
    only(
        {"StringEquals": {"g:EnterpriseProjectId": "ep-1", "g:RequestTag/team": "a"}},
        "evs:volumes:create",
    )
    disk = {"availability_zone": "cn-north-4a", "volume_type": "SSD", "size": 10}
    tagged = {**disk, "enterprise_project_id": "ep-1", "tags": {"team": "a"}}
    assert world.call("POST", "/v2.1/{p}/cloudvolumes", {"volume": disk}).status_code == 403
    assert world.call("POST", "/v2.1/{p}/cloudvolumes", {"volume": tagged}).status_code == 202


def test_job_polling_needs_no_permission(world: World) -> None:
    world.act_as()
    response = world.call("GET", f"/v1/{{p}}/jobs/{MISSING}")
    assert (response.status_code, response.json()["error"]["code"]) == (400, "Common.0011")


def test_the_enforcement_function_directly(world: World) -> None:
    from localecs.services.authorization import authorize

    ctx = world.client.app.state.context
    world.act_as(TAG_A)
    principal = world.caller.principal
    authorize(ctx, principal, "batch_detach_volumes", world.project_id, [world.team_a])
    with pytest.raises(ApiError) as denied:
        authorize(ctx, principal, "batch_detach_volumes", world.project_id, [world.team_a, MISSING])
    assert (denied.value.status, denied.value.code) == (403, "Pdp.0001")
    authorize(ctx, replace(principal, is_root=True), "delete_volume", world.project_id, [MISSING])
