"""Identity through the official IAM SDK (and plain HTTP for tokens), as a user would.

Every secret key and password a test creates is remembered in SECRETS, so that the session can
check that none of them ever reached a service log (conftest.assert_no_secrets_logged).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import httpx
from huaweicloudsdkcore.auth.credentials import GlobalCredentials
from huaweicloudsdkiam.v3 import IamClient
from huaweicloudsdkiam.v3 import model as iam_model

from tests.support import sdk

SECRETS: set[str] = set()


@dataclass(frozen=True)
class Credential:
    """An AK/SK on a project: what signed_http.request and the SDK helpers need."""

    endpoint: str
    access_key: str
    secret_key: str
    project_id: str

    def ecs(self) -> sdk.EcsClient:
        return sdk.ecs_client(self.endpoint, self.access_key, self.secret_key, self.project_id)

    def evs(self) -> sdk.EvsClient:
        return sdk.evs_client(self.endpoint, self.access_key, self.secret_key, self.project_id)


def remember(secret: str) -> str:
    SECRETS.add(secret)
    return secret


def client(endpoint: str, ak: str, sk: str, domain_id: str | None = None) -> IamClient:
    credentials = GlobalCredentials(ak, sk, domain_id)
    return IamClient.new_builder().with_credentials(credentials).with_endpoint(endpoint).build()


def domain_id(iam: IamClient) -> str:
    [domain] = iam.keystone_list_auth_domains(iam_model.KeystoneListAuthDomainsRequest()).domains
    return str(domain.id)


def domain_name(iam: IamClient) -> str:
    [domain] = iam.keystone_list_auth_domains(iam_model.KeystoneListAuthDomainsRequest()).domains
    return str(domain.name)


def new_password() -> str:
    return remember("Pw-" + secrets.token_urlsafe(12))


def create_user(iam: IamClient, name: str | None = None, password: str | None = None) -> Any:
    option = iam_model.CreateUserOption(
        name=name if name is not None else sdk.unique("user"),
        domain_id=domain_id(iam),
        password=password,
    )
    body = iam_model.CreateUserRequestBody(user=option)
    return iam.create_user(iam_model.CreateUserRequest(body=body)).user


def create_key(iam: IamClient, user_id: str) -> tuple[str, str]:
    body = iam_model.CreatePermanentAccessKeyRequestBody(
        credential=iam_model.CreateCredentialOption(user_id=user_id, description="test")
    )
    created = iam.create_permanent_access_key(
        iam_model.CreatePermanentAccessKeyRequest(body=body)
    ).credential
    return str(created.access), remember(str(created.secret))


def create_group(iam: IamClient, name: str | None = None) -> str:
    option = iam_model.KeystoneCreateGroupOption(name=name or sdk.unique("group"))
    body = iam_model.KeystoneCreateGroupRequestBody(group=option)
    return str(iam.keystone_create_group(iam_model.KeystoneCreateGroupRequest(body=body)).group.id)


def add_to_group(iam: IamClient, group_id: str, user_id: str) -> None:
    iam.keystone_add_user_to_group(
        iam_model.KeystoneAddUserToGroupRequest(group_id=group_id, user_id=user_id)
    )


def create_policy(iam: IamClient, statements: list[dict[str, Any]], version: str = "1.1") -> str:
    """A custom policy from plain statement dicts; returns its role id."""
    policy = iam_model.ServicePolicy(
        version=version,
        statement=[
            iam_model.ServiceStatement(
                action=s["Action"],
                effect=s["Effect"],
                condition=s.get("Condition"),
                resource=s.get("Resource"),
            )
            for s in statements
        ],
    )
    option = iam_model.ServicePolicyRoleOption(
        display_name=sdk.unique("policy"), type="XA", description="test", policy=policy
    )
    body = iam_model.CreateCloudServiceCustomPolicyRequestBody(role=option)
    created = iam.create_cloud_service_custom_policy(
        iam_model.CreateCloudServiceCustomPolicyRequest(body=body)
    )
    return str(created.role.id)


def grant(iam: IamClient, project_id: str, group_id: str, role_id: str) -> None:
    iam.keystone_associate_group_with_project_permission(
        iam_model.KeystoneAssociateGroupWithProjectPermissionRequest(
            project_id=project_id, group_id=group_id, role_id=role_id
        )
    )


def revoke(iam: IamClient, project_id: str, group_id: str, role_id: str) -> None:
    iam.keystone_remove_project_permission_from_group(
        iam_model.KeystoneRemoveProjectPermissionFromGroupRequest(
            project_id=project_id, group_id=group_id, role_id=role_id
        )
    )


@dataclass(frozen=True)
class IamUser:
    id: str
    name: str
    password: str
    group_id: str
    credential: Credential


def user_with_policy(
    iam: IamClient,
    endpoint: str,
    project_id: str,
    statements: list[dict[str, Any]],
    version: str = "1.1",
) -> IamUser:
    """A user with a password and a key, in a group of its own that holds a custom policy of
    these statements on the project."""
    password = new_password()
    user = create_user(iam, password=password)
    group_id = create_group(iam)
    add_to_group(iam, group_id, user.id)
    grant(iam, project_id, group_id, create_policy(iam, statements, version))
    ak, sk = create_key(iam, user.id)
    return IamUser(user.id, user.name, password, group_id, Credential(endpoint, ak, sk, project_id))


FULL_ACCESS = [{"Effect": "Allow", "Action": ["ecs:*:*", "evs:*:*"]}]


def token_request(
    endpoint: str,
    account: str,
    user: str,
    password: str,
    *,
    project_id: str | None = None,
    domain: bool = False,
) -> httpx.Response:
    scope: dict[str, Any] = (
        {"domain": {"name": account}} if domain else {"project": {"id": project_id}}
    )
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"domain": {"name": account}, "name": user, "password": password}
                },
            },
            "scope": scope,
        }
    }
    return httpx.post(f"{endpoint}/v3/auth/tokens", json=body, timeout=30)


def token(endpoint: str, account: str, user: str, password: str, project_id: str) -> str:
    response = token_request(endpoint, account, user, password, project_id=project_id)
    assert response.status_code == 201, response.text
    return remember(response.headers["X-Subject-Token"])


def with_token(
    endpoint: str, token_text: str, method: str, path: str, body: Any = None
) -> httpx.Response:
    response = httpx.request(
        method,
        f"{endpoint}{path}",
        json=body,
        headers={"X-Auth-Token": token_text},
        timeout=30,
    )
    assert response.status_code < 500, response.text
    return response
