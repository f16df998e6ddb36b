"""EVS disks (contract 2.14 to 2.16)."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request

from localecs.api import views
from localecs.api.deps import ContextDep, PrincipalDep, authenticated, json_body
from localecs.api.responses import JSONResponse
from localecs.api.schemas import CreateLegacyVolumeBody, CreateVolumeBody, VolumeBody
from localecs.errors import ApiError, Service, invalid_parameter
from localecs.services import volumes
from localecs.services.authorization import authorize
from localecs.services.idempotency import IdempotencyKey
from localecs.services.volumes import VolumeFilters, VolumeOrder, VolumeSpec

router = APIRouter(dependencies=[Depends(authenticated(Service.EVS))], tags=["EVS"])


@router.post("/v2.1/{project_id}/cloudvolumes")
def create_volume(
    project_id: str,
    body: Annotated[CreateVolumeBody, Depends(json_body(CreateVolumeBody, Service.EVS))],
    ctx: ContextDep,
    principal: PrincipalDep,
    client_token: Annotated[str | None, Header(alias="X-Client-Token")] = None,
) -> JSONResponse:
    """Create disks (v2.1): 202 with the job and the new ids."""
    _authorize_create(ctx, principal, project_id, body.volume)
    key = IdempotencyKey.parse(Service.EVS, client_token, body.model_dump_json())
    if body.server_id is not None:
        raise invalid_parameter(
            Service.EVS, "server_id (create and attach) is not supported; attach after creating."
        )
    if body.bss_param and body.bss_param.get("chargingMode") == "prePaid":
        raise invalid_parameter(Service.EVS, "Only pay-per-use (postPaid) disks are supported.")
    spec = _spec(body.volume, body.volume.multiattach)
    created = volumes.create_volumes(ctx, project_id, spec, key)
    return JSONResponse(
        {"job_id": created.job_id, "volume_ids": created.volume_ids}, status_code=202
    )


@router.post("/v2/{project_id}/cloudvolumes")
def create_volume_legacy(
    project_id: str,
    body: Annotated[
        CreateLegacyVolumeBody, Depends(json_body(CreateLegacyVolumeBody, Service.EVS))
    ],
    ctx: ContextDep,
    principal: PrincipalDep,
) -> JSONResponse:
    """Create disks (deprecated v2): 200 with the job."""
    _authorize_create(ctx, principal, project_id, body.volume)
    if body.volume.shareable not in (None, "true", "false"):
        raise ApiError(400, "EVS.1054", 'Invalid parameter shareable: must be "true" or "false".')
    shared = body.volume.multiattach or body.volume.shareable == "true"
    created = volumes.create_volumes(ctx, project_id, _spec(body.volume, shared))
    return JSONResponse({"job_id": created.job_id, "volume_ids": created.volume_ids})


def _authorize_create(
    ctx: ContextDep, principal: PrincipalDep, project_id: str, volume: VolumeBody
) -> None:
    project = {"g:EnterpriseProjectId": volume.enterprise_project_id}
    authorize(ctx, principal, "create_volume", project_id, extra=project, request_tags=volume.tags)


def _spec(volume: VolumeBody, shared: bool) -> VolumeSpec:
    if volume.snapshot_id or volume.backup_id:
        raise invalid_parameter(Service.EVS, "Creating from a snapshot or backup is not supported.")
    if shared and volume.image_ref:
        raise ApiError(400, "EVS.2094", "A shared disk cannot be created from an image.")
    if volume.size is None:
        raise invalid_parameter(
            Service.EVS, "Invalid parameter volume.size: the field is required."
        )
    return VolumeSpec(
        availability_zone=volume.availability_zone,
        volume_type=volume.volume_type,
        size=volume.size,
        name=volume.name,
        description=volume.description,
        multiattach=shared,
        count=volume.count,
        image_id=volume.image_ref,
        enterprise_project_id=volume.enterprise_project_id,
        metadata=volume.metadata,
        tags=volume.tags,
    )


@router.get("/v2/{project_id}/cloudvolumes/detail")
def list_volumes(
    project_id: str,
    request: Request,
    ctx: ContextDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
    marker: str | None = None,
    name: str | None = None,
    status: str | None = None,
    availability_zone: str | None = None,
    multiattach: bool | None = None,
    id: str | None = None,
    ids: str | None = None,
    server_id: str | None = None,
    enterprise_project_id: str | None = None,
    volume_type_id: str | None = None,
    service_type: str | None = None,
    dedicated_storage_id: str | None = None,
    dedicated_storage_name: str | None = None,
    metadata: str | None = None,
    not_metadata: str | None = None,
    sort_key: Literal["id", "status", "size", "created_at"] = "created_at",
    sort_dir: Literal["asc", "desc"] = "desc",
) -> JSONResponse:
    """Disks of the project with their attachments."""
    authorize(ctx, principal, "list_volumes", project_id)
    id_list = _ids(ids) if ids else ([id] if id else None)
    filters = VolumeFilters(
        name=name,
        status=status,
        availability_zone=availability_zone,
        multiattach=multiattach,
        ids=id_list,
        server_id=server_id,
        enterprise_project_id=enterprise_project_id,
        volume_type_id=volume_type_id,
        service_type=service_type,
        dedicated_storage=dedicated_storage_id or dedicated_storage_name,
        metadata=_pairs("metadata", metadata),
        not_metadata=_pairs("not_metadata", not_metadata),
    )
    order = VolumeOrder(sort_key, sort_dir == "desc")
    count, details = volumes.list_volumes(
        ctx, project_id, filters, order, offset=offset, limit=limit, marker=marker
    )
    base = _links_base(request, project_id)
    body = {
        "count": count,
        "volumes": [views.volume(d, base) for d in details],
        "volumes_links": _next_link(request, details, limit),
    }
    return JSONResponse(body)


def _pairs(name: str, value: str | None) -> dict[str, str] | None:
    """A metadata filter: a JSON object of strings, e.g. {"__system__encrypted": "1"}."""
    if value is None:
        return None
    try:
        pairs = json.loads(value)
    except json.JSONDecodeError:
        pairs = None
    if not isinstance(pairs, dict) or not all(isinstance(v, str) for v in pairs.values()):
        raise invalid_parameter(Service.EVS, f"Invalid parameter {name}: a JSON object of strings.")
    return pairs


def _ids(value: str) -> list[str]:
    # EVS takes ids as "['a','b']" or "a,b"; at most 60 of them.
    parsed = [part.strip(" '\"") for part in value.strip("[]").split(",") if part.strip(" '\"")]
    if len(parsed) > 60:
        raise invalid_parameter(Service.EVS, "Invalid parameter ids: at most 60 ids.")
    return parsed


def _links_base(request: Request, project_id: str) -> str:
    return f"{str(request.base_url).rstrip('/')}/v2/{project_id}/cloudvolumes"


def _next_link(
    request: Request, details: list[volumes.VolumeDetail], limit: int
) -> list[dict[str, str]]:
    if len(details) < limit or not details:
        return []
    url = request.url.include_query_params(marker=details[-1].volume.id)
    return [{"href": str(url), "rel": "next"}]


@router.get("/v2/{project_id}/cloudvolumes/{volume_id}")
def show_volume(
    project_id: str, volume_id: str, request: Request, ctx: ContextDep, principal: PrincipalDep
) -> JSONResponse:
    """One disk with its attachments."""
    authorize(ctx, principal, "show_volume", project_id, [volume_id])
    detail = volumes.show_volume(ctx, project_id, volume_id)
    return JSONResponse({"volume": views.volume(detail, _links_base(request, project_id))})


@router.delete("/v2/{project_id}/cloudvolumes/{volume_id}")
def delete_volume(
    project_id: str,
    volume_id: str,
    ctx: ContextDep,
    principal: PrincipalDep,
    cascade: bool = False,
) -> JSONResponse:
    """Delete an available disk (terraform's cascade flag is accepted and ignored)."""
    authorize(ctx, principal, "delete_volume", project_id, [volume_id])
    return JSONResponse({"job_id": volumes.delete_volume(ctx, project_id, volume_id)})
