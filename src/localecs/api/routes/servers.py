"""ECS server lifecycle (contract 2.9 to 2.13, and start/stop)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query

from localecs.api import views
from localecs.api.deps import ContextDep, PrincipalDep, authenticated, json_body
from localecs.api.responses import JSONResponse
from localecs.api.schemas import CreateServersBody, DeleteServersBody, ServerActionBody, ServerBody
from localecs.domain import tags as tag_rules
from localecs.errors import Service, invalid_parameter
from localecs.services import servers
from localecs.services.authorization import authorize
from localecs.services.idempotency import IdempotencyKey
from localecs.services.servers import DiskSpec, NicSpec, ServerFilters, ServerSpec

router = APIRouter(dependencies=[Depends(authenticated(Service.ECS))], tags=["ECS"])

CreateBody = Annotated[CreateServersBody, Depends(json_body(CreateServersBody, Service.ECS))]


ClientTokenHeader = Annotated[str | None, Header(alias="X-Client-Token")]


@router.post("/v1.1/{project_id}/cloudservers")
def create_servers(
    project_id: str,
    body: CreateBody,
    ctx: ContextDep,
    principal: PrincipalDep,
    client_token: ClientTokenHeader = None,
) -> JSONResponse:
    """Create servers (v1.1); pay-per-use is the only billing mode here."""
    _authorize_create(ctx, principal, "create_servers", project_id, body)
    return _create(project_id, body, ctx, client_token)


@router.post("/v1/{project_id}/cloudservers")
def create_post_paid_servers(
    project_id: str,
    body: CreateBody,
    ctx: ContextDep,
    principal: PrincipalDep,
    client_token: ClientTokenHeader = None,
) -> JSONResponse:
    """Create pay-per-use servers (v1)."""
    _authorize_create(ctx, principal, "create_post_paid_servers", project_id, body)
    return _create(project_id, body, ctx, client_token)


def _authorize_create(
    ctx: ContextDep,
    principal: PrincipalDep,
    operation: str,
    project_id: str,
    body: CreateServersBody,
) -> None:
    server = body.server
    authorize(
        ctx,
        principal,
        operation,
        project_id,
        extra={"g:EnterpriseProjectId": _enterprise_project(server.extendparam)},
        request_tags={t.get("key", ""): t.get("value", "") for t in server.server_tags},
    )


def _create(
    project_id: str, body: CreateServersBody, ctx: ContextDep, client_token: str | None
) -> JSONResponse:
    key = IdempotencyKey.parse(Service.ECS, client_token, body.model_dump_json())
    if body.dry_run:
        return JSONResponse({}, status_code=202)
    created = servers.create_servers(ctx, project_id, _spec(body.server), key)
    return JSONResponse({"job_id": created.job_id, "serverIds": created.server_ids})


def _spec(server: ServerBody) -> ServerSpec:
    tags = {t.get("key", ""): t.get("value", "") for t in server.server_tags}
    tag_rules.check_request((t.get("key", ""), t.get("value", "")) for t in server.server_tags)
    tag_rules.added({}, tags)  # at most 10, as the tag APIs allow
    for nic in server.nics:
        if nic.subnet_id is None and nic.port_id is None:
            raise invalid_parameter(
                Service.ECS, "Invalid parameter nics: each needs subnet_id or port_id."
            )
    return ServerSpec(
        name=server.name,
        image_id=server.image_ref,
        flavor_id=server.flavor_ref,
        vpc_id=server.vpcid,
        nics=[NicSpec(n.subnet_id, n.port_id, n.ip_address) for n in server.nics],
        root_volume=DiskSpec(server.root_volume.volumetype, server.root_volume.size),
        data_volumes=[
            DiskSpec(d.volumetype, d.size, d.multiattach or d.shareable)
            for d in server.data_volumes
        ],
        count=server.count,
        auto_rename=server.is_auto_rename,
        availability_zone=server.availability_zone,
        key_name=server.key_name,
        description=server.description,
        metadata=server.metadata,
        tags=tag_rules.as_stored(tags),
        enterprise_project_id=_enterprise_project(server.extendparam),
    )


def _enterprise_project(extendparam: dict[str, Any]) -> str:
    # The SDK sends enterprise_project_id; older API examples spell it enterpriseProjectId.
    value = extendparam.get("enterprise_project_id", extendparam.get("enterpriseProjectId", "0"))
    return str(value)


@router.get("/v1/{project_id}/cloudservers/detail")
def list_servers_details(
    project_id: str,
    ctx: ContextDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 25,
    offset: Annotated[int, Query(ge=0)] = 1,
    marker: str | None = None,
    name: str | None = None,
    status: str | None = None,
    flavor: str | None = None,
    server_id: str | None = None,
    enterprise_project_id: str | None = None,
    reservation_id: str | None = None,
    tags: str | None = None,
    not_tags: Annotated[str | None, Query(alias="not-tags")] = None,
    ip: str | None = None,
    ip_eq: str | None = None,
) -> JSONResponse:
    """Servers of the project, newest first; offset is a page number starting at 1."""
    authorize(ctx, principal, "list_servers_details", project_id)
    filters = ServerFilters(
        name=name,
        status=status,
        flavor=flavor,
        server_ids=server_id.split(",") if server_id else None,
        enterprise_project_id=enterprise_project_id,
        reservation_id=reservation_id,
        tags=tags,
        not_tags=not_tags,
        ip=ip,
        ip_eq=ip_eq,
    )
    start = 0 if marker else (max(offset, 1) - 1) * limit
    count, details = servers.list_servers(
        ctx, project_id, filters, offset=start, limit=limit, marker=marker
    )
    return JSONResponse({"count": count, "servers": [views.server(d) for d in details]})


@router.get("/v1/{project_id}/cloudservers/{server_id}")
def show_server(
    project_id: str, server_id: str, ctx: ContextDep, principal: PrincipalDep
) -> JSONResponse:
    """One server."""
    authorize(ctx, principal, "show_server", project_id, [server_id])
    return JSONResponse({"server": views.server(servers.show_server(ctx, project_id, server_id))})


@router.post("/v1/{project_id}/cloudservers/delete")
def delete_servers(
    project_id: str,
    body: Annotated[DeleteServersBody, Depends(json_body(DeleteServersBody, Service.ECS))],
    ctx: ContextDep,
    principal: PrincipalDep,
) -> JSONResponse:
    """Delete servers: the system disk goes with them, data disks only with delete_volume."""
    ids = [s.id for s in body.servers]
    authorize(ctx, principal, "delete_servers", project_id, ids)
    job_id = servers.delete_servers(ctx, project_id, ids, body.delete_volume)
    return JSONResponse({"job_id": job_id})


@router.post("/v1/{project_id}/cloudservers/action")
def batch_server_action(
    project_id: str,
    body: Annotated[ServerActionBody, Depends(json_body(ServerActionBody, Service.ECS))],
    ctx: ContextDep,
    principal: PrincipalDep,
) -> JSONResponse:
    """Start (os-start) or stop (os-stop) servers in a batch."""
    if (body.os_start is None) == (body.os_stop is None):
        raise invalid_parameter(
            Service.ECS, "The body must hold exactly one of os-start or os-stop."
        )
    option = body.os_start or body.os_stop
    assert option is not None
    ids = [s.id for s in option.servers]
    operation = "batch_start_servers" if body.os_start is not None else "batch_stop_servers"
    authorize(ctx, principal, operation, project_id, ids)
    job_id = servers.batch_power(ctx, project_id, ids, on=body.os_start is not None)
    return JSONResponse({"job_id": job_id})
