"""The IAM subset of contract 9: what huaweicloudsdkiam's IamClient calls, and the token API.

Every route authenticates the caller as any credential of an account (signature or token);
the services decide what only the account root may do.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ValidationError
from starlette.responses import JSONResponse, Response

from localecs.api import iam_views as views
from localecs.api.deps import IamCallerDep
from localecs.api.errors import describe_validation
from localecs.api.iam_schemas import (
    CreateCredentialBody,
    CreateGroupBody,
    CreateProjectBody,
    CreateRoleBody,
    CreateTokenBody,
    CreateUserBody,
    UpdateCredentialBody,
    UpdateUserBody,
)
from localecs.domain.identity import invalid
from localecs.services.identity import IdentityService, Scope

router = APIRouter(tags=["IAM"])

M = TypeVar("M", bound=BaseModel)


def _body(model: type[M]) -> Callable[[Request], Awaitable[M]]:
    """Parses an IAM body, answering IAM's 400 (never echoing a value: it may be a password)."""

    async def dependency(request: Request) -> M:
        raw = await request.body()
        try:
            data: Any = json.loads(raw) if raw.strip() else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise invalid("body", "the request body is not valid JSON") from None
        if data is None:
            raise invalid("body", "the request body is empty")
        try:
            return model.model_validate(data)
        except ValidationError as error:
            raise invalid("body", describe_validation(list(error.errors()))) from None

    return dependency


def _identity(request: Request) -> IdentityService:
    service: IdentityService = request.app.state.identity
    return service


IdentityDep = Annotated[IdentityService, Depends(_identity)]


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _no_content() -> Response:
    return Response(status_code=204)


# Look-ups any credential of the account may make (the SDK makes them by itself)


@router.get("/v3/auth/domains")
def keystone_list_auth_domains(
    request: Request, caller: IamCallerDep, identity: IdentityDep
) -> JSONResponse:
    domains = [views.domain(a, _base(request)) for a in identity.list_domains(caller)]
    return JSONResponse(
        {"domains": domains, "links": {"self": f"{_base(request)}/v3/auth/domains"}}
    )


@router.get("/v3/projects")
def keystone_list_projects(
    request: Request,
    caller: IamCallerDep,
    identity: IdentityDep,
    name: str | None = None,
    domain_id: str | None = None,
) -> JSONResponse:
    projects = identity.list_projects(caller, name, domain_id)
    base = _base(request)
    return JSONResponse(
        {
            "projects": [views.project(p, base) for p in projects],
            "links": {"self": f"{base}/v3/projects", "previous": None, "next": None},
        }
    )


# Management: the account root's


@router.post("/v3/projects")
def keystone_create_project(
    request: Request,
    caller: IamCallerDep,
    identity: IdentityDep,
    body: Annotated[CreateProjectBody, Depends(_body(CreateProjectBody))],
) -> JSONResponse:
    option = body.project
    if option.domain_id not in (None, caller.account_id):
        raise invalid("project.domain_id", "it must be the id of the caller's account")
    created = identity.create_project(caller, option.name, description=option.description)
    return JSONResponse({"project": views.project(created, _base(request))}, status_code=201)


@router.post("/v3.0/OS-USER/users")
def create_user(
    request: Request,
    caller: IamCallerDep,
    identity: IdentityDep,
    body: Annotated[CreateUserBody, Depends(_body(CreateUserBody))],
) -> JSONResponse:
    return _create_user(request, caller, identity, body)


@router.post("/v3/users")
def keystone_create_user(
    request: Request,
    caller: IamCallerDep,
    identity: IdentityDep,
    body: Annotated[CreateUserBody, Depends(_body(CreateUserBody))],
) -> JSONResponse:
    return _create_user(request, caller, identity, body)


def _create_user(
    request: Request, caller: IamCallerDep, identity: IdentityService, body: CreateUserBody
) -> JSONResponse:
    option = body.user
    created = identity.create_user(
        caller,
        option.name,
        option.password,
        enabled=option.enabled,
        description=option.description,
        domain_id=option.domain_id,
    )
    return JSONResponse({"user": views.user(created, _base(request))}, status_code=201)


@router.put("/v3.0/OS-USER/users/{user_id}")
def update_user(
    request: Request,
    user_id: str,
    caller: IamCallerDep,
    identity: IdentityDep,
    body: Annotated[UpdateUserBody, Depends(_body(UpdateUserBody))],
) -> JSONResponse:
    option = body.user
    updated = identity.update_user(
        caller,
        user_id,
        password=option.password,
        enabled=option.enabled,
        description=option.description,
    )
    return JSONResponse({"user": views.user(updated, _base(request))})


@router.get("/v3/users")
def keystone_list_users(
    request: Request, caller: IamCallerDep, identity: IdentityDep
) -> JSONResponse:
    base = _base(request)
    users = [views.user(u, base) for u in identity.list_users(caller)]
    return JSONResponse({"users": users, "links": {"self": f"{base}/v3/users"}})


@router.post("/v3/groups")
def keystone_create_group(
    request: Request,
    caller: IamCallerDep,
    identity: IdentityDep,
    body: Annotated[CreateGroupBody, Depends(_body(CreateGroupBody))],
) -> JSONResponse:
    option = body.group
    created = identity.create_group(caller, option.name, option.description, option.domain_id)
    return JSONResponse({"group": views.group(created, _base(request))}, status_code=201)


@router.get("/v3/groups")
def keystone_list_groups(
    request: Request, caller: IamCallerDep, identity: IdentityDep
) -> JSONResponse:
    base = _base(request)
    groups = [views.group(g, base) for g in identity.list_groups(caller)]
    return JSONResponse({"groups": groups, "links": {"self": f"{base}/v3/groups"}})


@router.put("/v3/groups/{group_id}/users/{user_id}")
def keystone_add_user_to_group(
    group_id: str, user_id: str, caller: IamCallerDep, identity: IdentityDep
) -> Response:
    identity.add_user_to_group(caller, group_id, user_id)
    return _no_content()


@router.delete("/v3/groups/{group_id}/users/{user_id}")
def keystone_remove_user_from_group(
    group_id: str, user_id: str, caller: IamCallerDep, identity: IdentityDep
) -> Response:
    identity.remove_user_from_group(caller, group_id, user_id)
    return _no_content()


@router.post("/v3.0/OS-CREDENTIAL/credentials")
def create_permanent_access_key(
    caller: IamCallerDep,
    identity: IdentityDep,
    body: Annotated[CreateCredentialBody, Depends(_body(CreateCredentialBody))],
) -> JSONResponse:
    option = body.credential
    created = identity.create_access_key(caller, option.user_id, option.description)
    # The only response that ever carries a secret key.
    view = {**views.credential(created.key), "secret": created.secret}
    return JSONResponse({"credential": view}, status_code=201)


@router.get("/v3.0/OS-CREDENTIAL/credentials")
def list_permanent_access_keys(
    caller: IamCallerDep, identity: IdentityDep, user_id: str | None = None
) -> JSONResponse:
    keys = identity.list_access_keys(caller, user_id)
    return JSONResponse({"credentials": [views.credential(k) for k in keys]})


@router.put("/v3.0/OS-CREDENTIAL/credentials/{access_key}")
def update_permanent_access_key(
    access_key: str,
    caller: IamCallerDep,
    identity: IdentityDep,
    body: Annotated[UpdateCredentialBody, Depends(_body(UpdateCredentialBody))],
) -> JSONResponse:
    option = body.credential
    updated = identity.update_access_key(
        caller, access_key, status=option.status, description=option.description
    )
    return JSONResponse({"credential": views.credential(updated)})


@router.delete("/v3.0/OS-CREDENTIAL/credentials/{access_key}")
def delete_permanent_access_key(
    access_key: str, caller: IamCallerDep, identity: IdentityDep
) -> Response:
    identity.delete_access_key(caller, access_key)
    return _no_content()


@router.post("/v3.0/OS-ROLE/roles")
def create_cloud_service_custom_policy(
    request: Request,
    caller: IamCallerDep,
    identity: IdentityDep,
    body: Annotated[CreateRoleBody, Depends(_body(CreateRoleBody))],
) -> JSONResponse:
    option = body.role
    created = identity.create_policy(
        caller,
        option.display_name,
        option.policy,
        role_type=option.type,
        description=option.description,
    )
    return JSONResponse({"role": views.role(created, _base(request))}, status_code=201)


@router.put("/v3/projects/{project_id}/groups/{group_id}/roles/{role_id}")
def keystone_associate_group_with_project_permission(
    project_id: str, group_id: str, role_id: str, caller: IamCallerDep, identity: IdentityDep
) -> Response:
    identity.grant(caller, group_id, role_id, project_id)
    return _no_content()


@router.get("/v3/projects/{project_id}/groups/{group_id}/roles")
def keystone_list_project_permissions_for_group(
    request: Request, project_id: str, group_id: str, caller: IamCallerDep, identity: IdentityDep
) -> JSONResponse:
    base = _base(request)
    roles = identity.roles_of_group(caller, group_id, project_id)
    return JSONResponse(
        {
            "roles": [views.role(r, base) for r in roles],
            "links": {"self": f"{base}/v3/projects/{project_id}/groups/{group_id}/roles"},
        }
    )


@router.delete("/v3/projects/{project_id}/groups/{group_id}/roles/{role_id}")
def keystone_remove_project_permission_from_group(
    project_id: str, group_id: str, role_id: str, caller: IamCallerDep, identity: IdentityDep
) -> Response:
    identity.revoke(caller, group_id, role_id, project_id)
    return _no_content()


@router.put("/v3/domains/{domain_id}/groups/{group_id}/roles/{role_id}")
def keystone_associate_group_with_domain_permission(
    domain_id: str, group_id: str, role_id: str, caller: IamCallerDep, identity: IdentityDep
) -> Response:
    if domain_id != caller.account_id:
        raise invalid("domain_id", "it must be the id of the caller's account")
    # A project-level policy granted on the account applies to all its projects.
    identity.grant(caller, group_id, role_id, None)
    return _no_content()


# Tokens: authenticated by the password in the body (an Authorization header is ignored)


@router.post("/v3/auth/tokens")
def keystone_create_user_token_by_password(
    request: Request,
    identity: IdentityDep,
    body: Annotated[CreateTokenBody, Depends(_body(CreateTokenBody))],
    nocatalog: str | None = None,
) -> JSONResponse:
    auth = body.auth
    if auth.identity.methods != ["password"]:
        raise invalid("auth.identity.methods", 'only ["password"] is supported')
    scope = _scope(body)
    user = auth.identity.password.user
    issued = identity.issue_token(user.domain.name, user.name, user.password, scope)
    content = views.token(issued, _base(request), identity.region, catalog=not nocatalog)
    return JSONResponse(content, status_code=201, headers={"X-Subject-Token": issued.token})


def _scope(body: CreateTokenBody) -> Scope:
    scope = body.auth.scope
    if (scope.project is None) == (scope.domain is None):
        raise invalid("auth.scope", "give exactly one of project and domain")
    named = scope.project or scope.domain
    assert named is not None
    if (named.id is None) == (named.name is None):
        raise invalid("auth.scope", "give the id or the name of the scope")
    if scope.project is not None:
        return Scope(project_id=named.id, project_name=named.name)
    return Scope(domain_id=named.id, domain_name=named.name)
