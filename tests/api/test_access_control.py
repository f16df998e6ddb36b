"""Issue 4 end to end: IAM users made through huaweicloudsdkiam, acting through the ECS/EVS SDKs
(and tokens over plain HTTP), get exactly what their policies allow on the project granted."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from huaweicloudsdkecs.v2 import model as ecs_model
from huaweicloudsdkevs.v2 import model as evs_model
from huaweicloudsdkiam.v3 import IamClient
from huaweicloudsdkiam.v3 import model as iam_model

from tests.conftest import RunningService
from tests.support import iam, sdk, signed_http
from tests.support.iam import Credential

READ_ONLY: list[dict[str, Any]] = [
    {
        "Effect": "Allow",
        "Action": [
            "ecs:cloudServers:list",
            "ecs:cloudServers:get",
            "ecs:cloudServers:listServerBlockDevices",
            "evs:volumes:list",
            "evs:volumes:get",
        ],
    }
]
DETACH_TEAM_A: list[dict[str, Any]] = [
    *READ_ONLY,
    {
        "Effect": "Allow",
        "Action": ["ecs:cloudServers:detachVolume"],
        "Condition": {"StringEquals": {"g:ResourceTag/team": ["a"]}},
    },
]


@dataclass(frozen=True)
class Estate:
    """Made by the account root: servers tagged team=a and team=b sharing one disk."""

    team_a: list[str]
    team_b: str
    volume: str


@pytest.fixture(scope="module")
def root(service: RunningService) -> IamClient:
    anonymous = iam.client(service.endpoint, service.access_key, service.secret_key)
    return iam.client(
        service.endpoint, service.access_key, service.secret_key, iam.domain_id(anonymous)
    )


@pytest.fixture
def estate(ecs: sdk.EcsClient, evs: sdk.EvsClient) -> Estate:
    team_a = sdk.create_servers(ecs, 2, name=sdk.unique("team-a"))
    [team_b] = sdk.create_servers(ecs, 1, name=sdk.unique("team-b"))
    for server_id, team in [(team_a[0], "a"), (team_a[1], "a"), (team_b, "b")]:
        body = ecs_model.BatchCreateServerTagsRequestBody(
            action="create", tags=[ecs_model.BatchAddServerTag(key="team", value=team)]
        )
        ecs.batch_create_server_tags(
            ecs_model.BatchCreateServerTagsRequest(server_id=server_id, body=body)
        )
    volume = sdk.create_volume(evs, shared=True, name=sdk.unique("shared"))
    assert sdk.batch_attach(ecs, volume, [*team_a, team_b]).status == "SUCCESS"
    return Estate(team_a, team_b, volume)


def attached_to(evs: sdk.EvsClient, volume_id: str) -> set[str]:
    return {a.server_id for a in sdk.show_volume(evs, volume_id).attachments}


def batch_detach_request(credential: Credential, volume_id: str, servers: list[str]) -> Any:
    body = ecs_model.VolumeBatchDetachRequest(serverinfo=servers)
    return credential.ecs().batch_detach_volumes(
        ecs_model.BatchDetachVolumesRequest(volume_id=volume_id, body=body)
    )


def refused(call: Callable[[], Any], code: str = "Pdp.0001") -> str:
    error = sdk.expect_error(call, 403, code)
    return str(error.error_msg)


def test_a_read_only_user_cannot_batch_detach_and_nothing_changes(
    service: RunningService, root: IamClient, evs: sdk.EvsClient, estate: Estate
) -> None:
    user = iam.user_with_policy(root, service.endpoint, service.project_id, READ_ONLY)
    mine = user.credential
    before = attached_to(evs, estate.volume)
    # What the policy allows works...
    listed = mine.ecs().list_servers_details(ecs_model.ListServersDetailsRequest())
    assert estate.team_b in {s.id for s in listed.servers}
    assert sdk.show_volume(mine.evs(), estate.volume).id == estate.volume
    # ... and what it does not is refused, naming the action, before anything changes.
    message = refused(lambda: batch_detach_request(mine, estate.volume, [estate.team_b]))
    assert message == "Policy doesn't allow ecs:cloudServers:detachVolume to be performed."
    refused(lambda: sdk.detach(mine.ecs(), estate.team_b, estate.volume))
    refused(
        lambda: mine.evs().delete_volume(evs_model.DeleteVolumeRequest(volume_id=estate.volume)),
        "EVS.2056",
    )
    assert attached_to(evs, estate.volume) == before


def test_a_tag_conditioned_policy_detaches_team_a_only(
    service: RunningService,
    root: IamClient,
    ecs: sdk.EcsClient,
    evs: sdk.EvsClient,
    estate: Estate,
) -> None:
    user = iam.user_with_policy(root, service.endpoint, service.project_id, DETACH_TEAM_A)
    mine = user.credential
    a1, a2 = estate.team_a
    # A batch naming a team=b server is refused as a whole: not even team=a's detach happens.
    refused(lambda: batch_detach_request(mine, estate.volume, [a1, estate.team_b]))
    refused(lambda: batch_detach_request(mine, estate.volume, [estate.team_b]))
    refused(lambda: sdk.detach(mine.ecs(), estate.team_b, estate.volume))
    assert attached_to(evs, estate.volume) == {a1, a2, estate.team_b}

    job = sdk.batch_detach(mine.ecs(), estate.volume, [a1])
    assert job.status == "SUCCESS", job
    assert sdk.detach(mine.ecs(), a2, estate.volume).status == "SUCCESS"
    assert attached_to(evs, estate.volume) == {estate.team_b}

    # Retagging by the root moves the permission with the tag, at once.
    body = ecs_model.BatchCreateServerTagsRequestBody(
        action="create", tags=[ecs_model.BatchAddServerTag(key="team", value="a")]
    )
    ecs.batch_create_server_tags(
        ecs_model.BatchCreateServerTagsRequest(server_id=estate.team_b, body=body)
    )
    assert sdk.batch_detach(mine.ecs(), estate.volume, [estate.team_b]).status == "SUCCESS"


def test_an_identity_policy_names_the_one_server_it_allows(
    service: RunningService, root: IamClient, evs: sdk.EvsClient, estate: Estate
) -> None:
    """Version 5.0: the detach is allowed on one server's URN and on no other."""
    a1, a2 = estate.team_a
    urn = f"ecs:cn-north-4:{iam.domain_id(root)}:instance:{a1}"
    statements = [
        {"Effect": "Allow", "Action": ["ecs:cloudServers:detachVolume"], "Resource": [urn]}
    ]
    user = iam.user_with_policy(root, service.endpoint, service.project_id, statements, "5.0")
    mine = user.credential
    refused(lambda: batch_detach_request(mine, estate.volume, [a2]))
    refused(lambda: batch_detach_request(mine, estate.volume, [a1, a2]))
    assert sdk.batch_detach(mine.ecs(), estate.volume, [a1]).status == "SUCCESS"
    assert attached_to(evs, estate.volume) == {a2, estate.team_b}


def test_an_explicit_deny_in_another_group_wins(
    service: RunningService, root: IamClient, evs: sdk.EvsClient, estate: Estate
) -> None:
    user = iam.user_with_policy(root, service.endpoint, service.project_id, iam.FULL_ACCESS)
    mine = user.credential
    deny = [
        {
            "Effect": "Deny",
            "Action": ["ecs:cloudServers:detach*"],
            "Condition": {"StringEquals": {"g:ResourceTag/team": ["b"]}},
        }
    ]
    group = iam.create_group(root)
    iam.add_to_group(root, group, user.id)
    iam.grant(root, service.project_id, group, iam.create_policy(root, deny))
    refused(lambda: batch_detach_request(mine, estate.volume, [estate.team_b]))
    assert sdk.batch_detach(mine.ecs(), estate.volume, estate.team_a).status == "SUCCESS"
    assert attached_to(evs, estate.volume) == {estate.team_b}


def test_grants_and_revokes_take_effect_on_the_next_request(
    service: RunningService, root: IamClient
) -> None:
    user = iam.user_with_policy(root, service.endpoint, service.project_id, READ_ONLY)
    mine = user.credential
    request = ecs_model.ListServersDetailsRequest(limit=1)
    mine.ecs().list_servers_details(request)
    [role] = _roles_of(root, user.group_id, service.project_id)
    iam.revoke(root, service.project_id, user.group_id, role)
    refused(lambda: mine.ecs().list_servers_details(request))
    iam.grant(root, service.project_id, user.group_id, role)
    mine.ecs().list_servers_details(request)
    # Leaving the group is a permission change too.
    root.keystone_remove_user_from_group(
        iam_model.KeystoneRemoveUserFromGroupRequest(group_id=user.group_id, user_id=user.id)
    )
    refused(lambda: mine.ecs().list_servers_details(request))


def _roles_of(root: IamClient, group_id: str, project_id: str) -> list[str]:
    """The role ids a group holds on a project, from the plain IAM listing."""
    response = root.keystone_list_project_permissions_for_group(
        iam_model.KeystoneListProjectPermissionsForGroupRequest(
            project_id=project_id, group_id=group_id
        )
    )
    return [str(r.id) for r in response.roles]


def test_a_token_has_exactly_the_users_powers(
    service: RunningService, root: IamClient, evs: sdk.EvsClient, estate: Estate
) -> None:
    user = iam.user_with_policy(root, service.endpoint, service.project_id, READ_ONLY)
    token = iam.token(
        service.endpoint, iam.domain_name(root), user.name, user.password, service.project_id
    )
    p = service.project_id
    listed = iam.with_token(service.endpoint, token, "GET", f"/v1/{p}/cloudservers/detail")
    assert listed.status_code == 200
    response = iam.with_token(
        service.endpoint,
        token,
        "POST",
        f"/v1/{p}/batchaction/detachvolumes/{estate.volume}",
        {"serverinfo": [estate.team_b]},
    )
    message = signed_http.assert_service_error(response, 403, "Pdp.0001")
    assert "ecs:cloudServers:detachVolume" in message
    response = iam.with_token(service.endpoint, token, "DELETE", f"/v2/{p}/cloudvolumes/x")
    signed_http.assert_service_error(response, 403, "EVS.2056")
    assert estate.team_b in attached_to(evs, estate.volume)


def test_a_user_has_nothing_on_a_project_it_was_not_granted(
    service: RunningService, root: IamClient
) -> None:
    """Another project of the same account: the user's key is refused there (403, the same
    whatever is asked about), and its token is refused as any cross-project token."""
    user = iam.user_with_policy(root, service.endpoint, service.project_id, iam.FULL_ACCESS)
    created = root.keystone_create_project(
        iam_model.KeystoneCreateProjectRequest(
            body=iam_model.KeystoneCreateProjectRequestBody(
                project=iam_model.KeystoneCreateProjectOption(
                    name=sdk.unique("cn-north-4_second"), parent_id=iam.domain_id(root)
                )
            )
        )
    ).project
    elsewhere = Credential(
        service.endpoint, user.credential.access_key, user.credential.secret_key, created.id
    )
    refused(lambda: elsewhere.ecs().list_servers_details(ecs_model.ListServersDetailsRequest()))
    refused(lambda: elsewhere.evs().list_volumes(evs_model.ListVolumesRequest()), "EVS.2056")
    token = iam.token(
        service.endpoint, iam.domain_name(root), user.name, user.password, service.project_id
    )
    response = iam.with_token(
        service.endpoint, token, "GET", f"/v1/{created.id}/cloudservers/detail"
    )
    signed_http.assert_service_error(response, 400, "Ecs.0023")
    # The root of the account may act on every project of it.
    root_there = Credential(service.endpoint, service.access_key, service.secret_key, created.id)
    assert root_there.ecs().list_servers_details(ecs_model.ListServersDetailsRequest()).count == 0
