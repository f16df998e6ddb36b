"""Identity through huaweicloudsdkiam and plain HTTP (contract 2.18, 5, 9): users, groups, keys,
policies, grants, tokens, project look-ups, lockout and secrets that never show."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkcore.region.region import Region
from huaweicloudsdkecs.v2 import EcsClient
from huaweicloudsdkecs.v2 import model as ecs_model
from huaweicloudsdkevs.v2 import model as evs_model
from huaweicloudsdkiam.v3 import IamClient
from huaweicloudsdkiam.v3 import model as iam_model

from tests.conftest import (
    RunningService,
    assert_no_server_errors,
    new_credentials,
    start_service,
    stop_service,
)
from tests.support import iam, sdk, signed_http
from tests.support.iam import Credential


@pytest.fixture(scope="module")
def root(service: RunningService) -> IamClient:
    """The account root's IAM client, as the SDK builds it (GlobalCredentials + domain id)."""
    anonymous = iam.client(service.endpoint, service.access_key, service.secret_key)
    return iam.client(
        service.endpoint, service.access_key, service.secret_key, iam.domain_id(anonymous)
    )


@pytest.fixture(scope="module")
def account(root: IamClient) -> str:
    return iam.domain_name(root)


def list_servers(credential: Credential) -> int:
    listed = credential.ecs().list_servers_details(ecs_model.ListServersDetailsRequest())
    return int(listed.count)


# --- Look-ups the SDK makes by itself -------------------------------------------------------


def test_domains_and_projects_of_the_account(service: RunningService, root: IamClient) -> None:
    [domain] = root.keystone_list_auth_domains(iam_model.KeystoneListAuthDomainsRequest()).domains
    assert domain.enabled and domain.name
    projects = root.keystone_list_projects(
        iam_model.KeystoneListProjectsRequest(name="cn-north-4")
    ).projects
    assert [(p.id, p.domain_id) for p in projects] == [(service.project_id, domain.id)]
    none = root.keystone_list_projects(iam_model.KeystoneListProjectsRequest(name="nowhere"))
    assert none.projects == []


def test_sdk_without_project_id_finds_it_through_the_iam_endpoint(
    service: RunningService,
) -> None:
    """BasicCredentials(ak, sk) and a region: the SDK asks GET /v3/projects?name=<region>,
    signed with only host;user-agent;x-sdk-date, and uses the one project it gets."""
    credentials = BasicCredentials(service.access_key, service.secret_key).with_iam_endpoint(
        service.endpoint
    )
    ecs = (
        EcsClient.new_builder()
        .with_credentials(credentials)
        .with_region(Region("cn-north-4", service.endpoint))
        .build()
    )
    ecs.list_servers_details(ecs_model.ListServersDetailsRequest(limit=1))
    assert credentials.project_id == service.project_id


def test_sdk_finds_the_project_through_huaweicloud_sdk_iam_endpoint(
    service: RunningService,
) -> None:
    """The same through the environment variable the SDK reads (in a process of its own, as
    the variable is read process-wide)."""
    script = (
        "from huaweicloudsdkcore.auth.credentials import BasicCredentials\n"
        "from huaweicloudsdkcore.region.region import Region\n"
        "from huaweicloudsdkecs.v2 import EcsClient, ListServersDetailsRequest\n"
        "import os, sys\n"
        "credentials = BasicCredentials(sys.argv[1], sys.argv[2])\n"
        "ecs = EcsClient.new_builder().with_credentials(credentials)"
        ".with_region(Region('cn-north-4', os.environ['HUAWEICLOUD_SDK_IAM_ENDPOINT'])).build()\n"
        "ecs.list_servers_details(ListServersDetailsRequest(limit=1))\n"
        "print(credentials.project_id)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, service.access_key, service.secret_key],
        env={**os.environ, "HUAWEICLOUD_SDK_IAM_ENDPOINT": service.endpoint},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == service.project_id


# --- Users, keys, groups, policies -------------------------------------------------------------


def test_a_user_key_works_lists_without_secret_and_dies_when_deleted(
    service: RunningService, root: IamClient
) -> None:
    user = iam.user_with_policy(root, service.endpoint, service.project_id, iam.FULL_ACCESS)
    assert list_servers(user.credential) >= 0

    listed = root.list_permanent_access_keys(
        iam_model.ListPermanentAccessKeysRequest(user_id=user.id)
    ).credentials
    assert [(k.access, k.user_id, k.status) for k in listed] == [
        (user.credential.access_key, user.id, "active")
    ]
    # On the wire, not only through the SDK's model: no listing carries a secret.
    raw = signed_http.request(
        service,
        "GET",
        "/v3.0/OS-CREDENTIAL/credentials",
        query=[("user_id", user.id)],
    )
    assert raw.status_code == 200
    assert "secret" not in raw.text and user.credential.secret_key not in raw.text

    root.delete_permanent_access_key(
        iam_model.DeletePermanentAccessKeyRequest(access_key=user.credential.access_key)
    )
    error = sdk.expect_error(lambda: list_servers(user.credential), 401, "APIG.0301")
    assert user.credential.secret_key not in str(error)
    assert (
        root.list_permanent_access_keys(
            iam_model.ListPermanentAccessKeysRequest(user_id=user.id)
        ).credentials
        == []
    )


def test_an_inactive_key_authenticates_nothing_until_reactivated(
    service: RunningService, root: IamClient
) -> None:
    user = iam.user_with_policy(root, service.endpoint, service.project_id, iam.FULL_ACCESS)

    def set_status(status: str) -> Any:
        body = iam_model.UpdatePermanentAccessKeyRequestBody(
            credential=iam_model.UpdateCredentialOption(status=status)
        )
        return root.update_permanent_access_key(
            iam_model.UpdatePermanentAccessKeyRequest(
                access_key=user.credential.access_key, body=body
            )
        ).credential

    assert set_status("inactive").status == "inactive"
    sdk.expect_error(lambda: list_servers(user.credential), 401, "APIG.0301")
    sdk.expect_error(lambda: set_status("sleeping"), 400, "IAM.0007")
    assert set_status("active").status == "active"
    assert list_servers(user.credential) >= 0


def test_keystone_create_user_and_the_key_limit(root: IamClient) -> None:
    option = iam_model.KeystoneCreateUserOption(
        name=sdk.unique("ks"), domain_id=iam.domain_id(root), password=iam.new_password()
    )
    created = root.keystone_create_user(
        iam_model.KeystoneCreateUserRequest(
            body=iam_model.KeystoneCreateUserRequestBody(user=option)
        )
    ).user
    assert created.id and created.domain_id == iam.domain_id(root)
    iam.create_key(root, created.id)
    iam.create_key(root, created.id)
    sdk.expect_error(lambda: iam.create_key(root, created.id), 400, "IAM.0007")


@pytest.mark.parametrize(
    ("name", "password"),
    [
        ("", None),
        ("9starts-with-a-digit", None),
        ("x" * 65, None),
        (None, "short1!"),
        (None, "alllowercaseletters"),
    ],
)
def test_invalid_users_are_refused_without_echoing_the_password(
    service: RunningService, root: IamClient, name: str | None, password: str | None
) -> None:
    error = sdk.expect_error(
        lambda: iam.create_user(
            root, name if name is not None else sdk.unique("u"), password=password
        ),
        400,
        "IAM.0007",
    )
    if password:
        assert password not in str(error)


def test_duplicate_names_conflict(root: IamClient) -> None:
    name = sdk.unique("dup")
    iam.create_user(root, name)
    sdk.expect_error(lambda: iam.create_user(root, name), 409, "IAM.0016")
    group = sdk.unique("dupgroup")
    iam.create_group(root, group)
    sdk.expect_error(lambda: iam.create_group(root, group), 409, "IAM.0016")


def test_racing_creates_of_one_name_make_one_user_and_conflicts(root: IamClient) -> None:
    name = sdk.unique("race")
    outcomes: list[int] = []

    def create() -> None:
        try:
            iam.create_user(root, name)
            outcomes.append(201)
        except ClientRequestException as error:
            outcomes.append(error.status_code)

    with ThreadPoolExecutor(max_workers=6) as pool:
        for _ in range(6):
            pool.submit(create)
    assert sorted(outcomes) == [201] + [409] * 5


def test_an_invalid_policy_document_is_refused(root: IamClient) -> None:
    sdk.expect_error(
        lambda: iam.create_policy(root, [{"Effect": "Perhaps", "Action": ["ecs:*:*"]}]),
        400,
        "IAM.0007",
    )
    sdk.expect_error(
        lambda: iam.create_policy(root, [{"Effect": "Allow", "Action": ["not an action"]}]),
        400,
        "IAM.0007",
    )


def test_an_iam_user_cannot_manage_identities(service: RunningService, root: IamClient) -> None:
    user = iam.user_with_policy(root, service.endpoint, service.project_id, iam.FULL_ACCESS)
    theirs = iam.client(
        service.endpoint,
        user.credential.access_key,
        user.credential.secret_key,
        iam.domain_id(root),
    )
    sdk.expect_error(lambda: iam.create_user(theirs), 403, "IAM.0002")
    sdk.expect_error(lambda: iam.create_key(theirs, user.id), 403, "IAM.0002")
    sdk.expect_error(lambda: iam.create_group(theirs), 403, "IAM.0002")
    # ... but may list its own keys and find its projects, as the SDK needs to.
    own = theirs.list_permanent_access_keys(iam_model.ListPermanentAccessKeysRequest())
    assert [k.access for k in own.credentials] == [user.credential.access_key]
    projects = theirs.keystone_list_projects(iam_model.KeystoneListProjectsRequest())
    assert service.project_id in [p.id for p in projects.projects]


def test_another_domain_id_is_refused(service: RunningService) -> None:
    other = iam.client(service.endpoint, service.access_key, service.secret_key, "0" * 32)
    sdk.expect_error(lambda: iam.create_group(other), 403, "IAM.0002")


def test_names_of_unknown_ids_are_404(root: IamClient) -> None:
    invented = secrets.token_hex(16)
    sdk.expect_error(lambda: iam.add_to_group(root, invented, invented), 404, "IAM.0004")
    sdk.expect_error(lambda: iam.create_key(root, invented), 404, "IAM.0004")
    sdk.expect_error(
        lambda: root.delete_permanent_access_key(
            iam_model.DeletePermanentAccessKeyRequest(access_key="NOSUCHKEY")
        ),
        404,
        "IAM.0004",
    )


# --- Tokens ----------------------------------------------------------------------------------


def test_a_password_token_works_on_ecs_and_evs_in_its_project(
    service: RunningService, root: IamClient, account: str
) -> None:
    user = iam.user_with_policy(root, service.endpoint, service.project_id, iam.FULL_ACCESS)
    response = iam.token_request(
        service.endpoint, account, user.name, user.password, project_id=service.project_id
    )
    assert response.status_code == 201, response.text
    token = iam.remember(response.headers["X-Subject-Token"])
    signed_http.assert_request_id(response)
    body = response.json()["token"]
    assert body["project"]["id"] == service.project_id
    assert body["user"] == {
        "id": user.id,
        "name": user.name,
        "domain": {"id": iam.domain_id(root), "name": account},
        "password_expires_at": "",
    }
    assert body["methods"] == ["password"] and body["roles"]
    assert sdk.JOB_TIME.match(body["expires_at"][:23] + "Z")
    assert token not in response.text and user.password not in response.text

    p = service.project_id
    servers = iam.with_token(service.endpoint, token, "GET", f"/v1/{p}/cloudservers/detail")
    assert servers.status_code == 200 and "servers" in servers.json()
    volumes = iam.with_token(service.endpoint, token, "GET", f"/v2/{p}/cloudvolumes/detail")
    assert volumes.status_code == 200 and "volumes" in volumes.json()
    signed_http.assert_request_id(volumes)
    # Jobs of the project need no permission beyond the project (contract 9).
    root_evs = sdk.evs_client(
        service.endpoint, service.access_key, service.secret_key, service.project_id
    )
    option = evs_model.CreateVolumeOption(
        availability_zone="cn-north-4a", volume_type="SSD", size=10
    )
    created = root_evs.create_volume(
        evs_model.CreateVolumeRequest(body=evs_model.CreateVolumeRequestBody(volume=option))
    )
    job = iam.with_token(service.endpoint, token, "GET", f"/v1/{p}/jobs/{created.job_id}")
    assert job.status_code == 200 and job.json()["job_id"] == created.job_id

    # Another project in the path: refused like any cross-project call, revealing nothing.
    other = secrets.token_hex(16)
    for path, code in [
        (f"/v1/{other}/cloudservers/detail", "Ecs.0023"),
        (f"/v2/{other}/cloudvolumes/detail", "Common.0018"),
        (f"/v1/{other}/jobs/{secrets.token_hex(16)}", "Common.0018"),
    ]:
        signed_http.assert_service_error(
            iam.with_token(service.endpoint, token, "GET", path), 400, code
        )


def test_the_sdk_gets_a_token_signed_with_ak_sk(
    service: RunningService, root: IamClient, account: str
) -> None:
    """The IAM client signs this call too; the password in the body is what counts."""
    user = iam.user_with_policy(root, service.endpoint, service.project_id, iam.FULL_ACCESS)
    identity = iam_model.PwdIdentity(
        methods=["password"],
        password=iam_model.PwdPassword(
            user=iam_model.PwdPasswordUser(
                domain=iam_model.PwdPasswordUserDomain(name=account),
                name=user.name,
                password=user.password,
            )
        ),
    )
    auth = iam_model.PwdAuth(
        identity=identity,
        scope=iam_model.AuthScope(project=iam_model.AuthScopeProject(id=service.project_id)),
    )
    response = root.keystone_create_user_token_by_password(
        iam_model.KeystoneCreateUserTokenByPasswordRequest(
            body=iam_model.KeystoneCreateUserTokenByPasswordRequestBody(auth=auth)
        )
    )
    iam.remember(response.x_subject_token)
    assert response.token.project.id == service.project_id
    assert response.token.user.name == user.name
    assert response.token.roles


@pytest.mark.parametrize("wrong", ["password", "user", "account", "project"])
def test_a_wrong_password_user_account_or_scope_gets_no_token(
    service: RunningService, root: IamClient, account: str, wrong: str
) -> None:
    user = iam.user_with_policy(root, service.endpoint, service.project_id, iam.FULL_ACCESS)
    response = iam.token_request(
        service.endpoint,
        account if wrong != "account" else "nosuchaccount",
        user.name if wrong != "user" else "nosuchuser",
        user.password if wrong != "password" else iam.remember("Wrong-" + user.password),
        project_id=service.project_id if wrong != "project" else secrets.token_hex(16),
    )
    signed_http.assert_gateway_error(response, 401, "APIG.0301")
    assert "X-Subject-Token" not in response.headers


def test_five_wrong_passwords_lock_the_user_out_of_tokens(
    service: RunningService, root: IamClient, account: str
) -> None:
    user = iam.user_with_policy(root, service.endpoint, service.project_id, iam.FULL_ACCESS)
    other = iam.user_with_policy(root, service.endpoint, service.project_id, iam.FULL_ACCESS)
    wrong = iam.remember("Wrong-" + user.password)
    answers = []
    for _ in range(5):
        response = iam.token_request(
            service.endpoint, account, user.name, wrong, project_id=service.project_id
        )
        answers.append(signed_http.assert_gateway_error(response, 401, "APIG.0301"))
    locked = iam.token_request(
        service.endpoint, account, user.name, user.password, project_id=service.project_id
    )
    # Locked, and told exactly what a wrong password is told.
    assert signed_http.assert_gateway_error(locked, 401, "APIG.0301") == answers[0]
    iam.token(service.endpoint, account, other.name, other.password, service.project_id)
    # The lock is on passwords only: the user's access key still works.
    assert list_servers(user.credential) >= 0


def test_bad_tokens_are_401(service: RunningService) -> None:
    path = f"/v1/{service.project_id}/cloudservers/detail"
    for token in ["garbage", "MII" + secrets.token_urlsafe(48), ""]:
        response = httpx.get(
            f"{service.endpoint}{path}", headers={"X-Auth-Token": token}, timeout=30
        )
        signed_http.assert_gateway_error(response, 401, "APIG.0301")


def test_a_domain_token_cannot_act_on_a_project(
    service: RunningService, root: IamClient, account: str
) -> None:
    user = iam.user_with_policy(root, service.endpoint, service.project_id, iam.FULL_ACCESS)
    response = iam.token_request(service.endpoint, account, user.name, user.password, domain=True)
    assert response.status_code == 201, response.text
    assert response.json()["token"]["domain"]["name"] == account
    token = iam.remember(response.headers["X-Subject-Token"])
    path = f"/v1/{service.project_id}/cloudservers/detail"
    signed_http.assert_service_error(
        iam.with_token(service.endpoint, token, "GET", path), 400, "Ecs.0023"
    )


def _token_and_path(
    service: RunningService, root: IamClient, account: str
) -> tuple[iam.IamUser, str, str]:
    user = iam.user_with_policy(root, service.endpoint, service.project_id, iam.FULL_ACCESS)
    token = iam.token(service.endpoint, account, user.name, user.password, service.project_id)
    path = f"/v1/{service.project_id}/cloudservers/detail"
    assert iam.with_token(service.endpoint, token, "GET", path).status_code == 200
    return user, token, path


def test_a_password_change_invalidates_tokens(
    service: RunningService, root: IamClient, account: str
) -> None:
    user, token, path = _token_and_path(service, root, account)
    new_password = iam.new_password()
    root.update_user(
        iam_model.UpdateUserRequest(
            user_id=user.id,
            body=iam_model.UpdateUserRequestBody(
                user=iam_model.UpdateUserOption(password=new_password)
            ),
        )
    )
    response = iam.with_token(service.endpoint, token, "GET", path)
    signed_http.assert_gateway_error(response, 401, "APIG.0301")
    old = iam.token_request(
        service.endpoint, account, user.name, user.password, project_id=service.project_id
    )
    signed_http.assert_gateway_error(old, 401, "APIG.0301")
    fresh = iam.token(service.endpoint, account, user.name, new_password, service.project_id)
    assert iam.with_token(service.endpoint, fresh, "GET", path).status_code == 200


def test_a_key_change_invalidates_tokens(
    service: RunningService, root: IamClient, account: str
) -> None:
    user, token, path = _token_and_path(service, root, account)
    root.delete_permanent_access_key(
        iam_model.DeletePermanentAccessKeyRequest(access_key=user.credential.access_key)
    )
    response = iam.with_token(service.endpoint, token, "GET", path)
    signed_http.assert_gateway_error(response, 401, "APIG.0301")


def test_a_permission_change_invalidates_tokens(
    service: RunningService, root: IamClient, account: str
) -> None:
    user, token, path = _token_and_path(service, root, account)
    other_group = iam.create_group(root)
    iam.add_to_group(root, other_group, user.id)
    response = iam.with_token(service.endpoint, token, "GET", path)
    signed_http.assert_gateway_error(response, 401, "APIG.0301")


# --- Lockout ----------------------------------------------------------------------------------


def test_five_bad_signatures_lock_the_key_and_only_that_key(
    service: RunningService, root: IamClient
) -> None:
    locked = iam.user_with_policy(root, service.endpoint, service.project_id, iam.FULL_ACCESS)
    bystander = iam.user_with_policy(root, service.endpoint, service.project_id, iam.FULL_ACCESS)
    path = f"/v1/{service.project_id}/cloudservers/detail"
    target = locked.credential

    def call(secret: str) -> httpx.Response:
        return signed_http.request(target, "GET", path, secret_key=secret)

    # A success resets the count: four failures, a success, four failures are not five.
    for _ in range(2):
        for _ in range(4):
            signed_http.assert_gateway_error(call("wrong-secret"), 401, "APIG.0301")
        assert call(target.secret_key).status_code == 200
    for _ in range(5):
        signed_http.assert_gateway_error(call("wrong-secret"), 401, "APIG.0301")
    message = signed_http.assert_gateway_error(call(target.secret_key), 401, "APIG.0301")
    assert "limit" in message
    assert target.secret_key not in message
    assert list_servers(bystander.credential) >= 0


# --- Isolation between accounts ---------------------------------------------------------------


@pytest.fixture(scope="module")
def other_account(service: RunningService) -> Iterator[Credential]:
    """A second account in the same store, made with `localecs iam create-account`."""
    name = "acct_" + secrets.token_hex(4)
    output = _cli(service, "create-account", name, "--project", sdk.unique("cn-north-4_other"))
    pairs = (line.split("  ", 1) for line in output.splitlines() if "  " in line)
    fields = {key.strip(): value.strip() for key, value in pairs}
    credential = Credential(
        service.endpoint,
        fields["access key"].strip(),
        iam.remember(fields["secret key"].strip()),
        fields["project id"].strip(),
    )
    yield credential


def _cli(service: RunningService, *args: str, stdin: str | None = None) -> str:
    command = [
        sys.executable, "-m", "localecs", "iam", "--data-dir", str(service.data_dir),
        "--database-url", service.database_url, *args,
    ]  # fmt: skip
    done = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_another_account_sees_nothing_of_this_one(
    service: RunningService, root: IamClient, other_account: Credential
) -> None:
    volume_id = sdk.create_volume(
        sdk.evs_client(
            service.endpoint, service.access_key, service.secret_key, service.project_id
        ),
        name=sdk.unique("mine"),
    )
    mine = service.project_id
    # Its own project works; ours answers exactly as a project that does not exist.
    assert list_servers(other_account) == 0
    answers = []
    for project, volume in [(mine, volume_id), (secrets.token_hex(16), secrets.token_hex(16))]:
        response = signed_http.request(
            other_account, "GET", f"/v2/{project}/cloudvolumes/{volume}", project_header=project
        )
        signed_http.assert_service_error(response, 400, "Common.0018")
        answers.append(response.json())
    assert answers[0] == answers[1]

    # Nor through IAM: our users and groups are as unknown to it as invented ids.
    theirs = iam.client(service.endpoint, other_account.access_key, other_account.secret_key)
    our_user = iam.create_user(root)
    our_group = iam.create_group(root)
    invented = secrets.token_hex(16)
    for user_id, group_id in [(our_user.id, our_group), (invented, invented)]:

        def add(g: str = group_id, u: str = user_id) -> None:
            iam.add_to_group(theirs, g, u)

        def key(u: str = user_id) -> tuple[str, str]:
            return iam.create_key(theirs, u)

        sdk.expect_error(add, 404, "IAM.0004")
        sdk.expect_error(key, 404, "IAM.0004")
    listed = theirs.keystone_list_projects(iam_model.KeystoneListProjectsRequest())
    assert [p.id for p in listed.projects] == [other_account.project_id]
    sdk.expect_error(
        lambda: theirs.list_permanent_access_keys(
            iam_model.ListPermanentAccessKeysRequest(user_id=our_user.id)
        ),
        404,
        "IAM.0004",
    )


def test_the_cli_manages_users_keys_groups_and_policies(
    service: RunningService, tmp_path: Path
) -> None:
    name = sdk.unique("cliuser")
    password = iam.new_password()
    user_id = _cli(service, "create-user", name, "--password-stdin", stdin=password + "\n").strip()
    output = _cli(service, "create-key", name)
    ak = output.split("access key")[1].split()[0]
    sk = iam.remember(output.split("secret key")[1].split()[0])
    policy = tmp_path / "list.json"
    policy.write_text(
        '{"Version": "1.1", "Statement": [{"Effect": "Allow", "Action": ["ecs:*:*"]}]}'
    )
    policy_id = _cli(service, "create-policy", sdk.unique("clipolicy"), str(policy)).strip()
    group = sdk.unique("cligroup")
    _cli(service, "create-group", group)
    _cli(service, "add-to-group", group, name)
    _cli(service, "grant", group, policy_id, "--project", service.project_id)

    assert list_servers(Credential(service.endpoint, ak, sk, service.project_id)) >= 0
    users = _cli(service, "list-users")
    assert f"{user_id}\t{name}\tuser\tenabled" in users
    keys = _cli(service, "list-keys", name)
    assert ak in keys and sk not in keys
    assert service.project_id in _cli(service, "list-projects")
    _cli(service, "delete-key", ak)
    sdk.expect_error(
        lambda: list_servers(Credential(service.endpoint, ak, sk, service.project_id)),
        401,
        "APIG.0301",
    )


# --- Services of their own: token expiry, rate limits -----------------------------------------


@pytest.fixture
def own_service(
    tmp_path: Path, request: pytest.FixtureRequest, own_store: str | None
) -> Iterator[RunningService]:
    access_key, secret_key, project_id = new_credentials()
    running = start_service(
        tmp_path / "data",
        access_key=access_key,
        secret_key=secret_key,
        project_id=project_id,
        database_url=own_store,
        extra_args=tuple(request.param),
    )
    yield running
    stop_service(running)
    assert_no_server_errors(running)


@pytest.mark.parametrize("own_service", [("--token-lifetime", "2")], indirect=True)
def test_tokens_expire_after_the_configured_lifetime(own_service: RunningService) -> None:
    service = own_service
    root = iam.client(service.endpoint, service.access_key, service.secret_key)
    user = iam.user_with_policy(root, service.endpoint, service.project_id, iam.FULL_ACCESS)
    token = iam.token(
        service.endpoint, iam.domain_name(root), user.name, user.password, service.project_id
    )
    path = f"/v1/{service.project_id}/cloudservers/detail"
    deadline = time.monotonic() + 30
    while (response := iam.with_token(service.endpoint, token, "GET", path)).status_code == 200:
        assert time.monotonic() < deadline, "the token never expired"
        time.sleep(0.2)
    message = signed_http.assert_gateway_error(response, 401, "APIG.0301")
    assert "expires" in message


@pytest.mark.parametrize(
    "own_service", [("--rate-limit", "0.01", "--rate-burst", "3")], indirect=True
)
def test_a_credential_over_its_rate_gets_429(own_service: RunningService) -> None:
    service = own_service
    path = f"/v1/{service.project_id}/cloudservers/detail"
    statuses = [signed_http.request(service, "GET", path).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    response = signed_http.request(service, "GET", path)
    signed_http.assert_gateway_error(response, 429, "APIG.0308")
