"""ECS disk attachment operations (contract 2.1 to 2.7)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from localecs.api import views
from localecs.api.deps import ContextDep, PrincipalDep, authenticated, json_body
from localecs.api.responses import JSONResponse
from localecs.api.schemas import (
    AttachServerVolumeBody,
    BatchAttachSharableVolumesBody,
    BatchDetachVolumesBody,
)
from localecs.errors import Service, invalid_parameter
from localecs.services import attachments
from localecs.services.attachments import AttachRequest
from localecs.services.authorization import authorize

router = APIRouter(
    prefix="/v1/{project_id}", dependencies=[Depends(authenticated(Service.ECS))], tags=["ECS"]
)


@router.post("/batchaction/detachvolumes/{volume_id}")
def batch_detach_volumes(
    project_id: str,
    volume_id: str,
    body: Annotated[
        BatchDetachVolumesBody, Depends(json_body(BatchDetachVolumesBody, Service.ECS))
    ],
    ctx: ContextDep,
    principal: PrincipalDep,
) -> JSONResponse:
    """Detach one shared disk from many servers: one sub-job per server."""
    # Every listed server is checked before anything changes: one denial refuses the batch.
    authorize(ctx, principal, "batch_detach_volumes", project_id, body.serverinfo)
    job_id = attachments.batch_detach_volumes(ctx, project_id, volume_id, body.serverinfo)
    return JSONResponse({"job_id": job_id})


@router.post("/batchaction/attachvolumes/{volume_id}")
def batch_attach_sharable_volumes(
    project_id: str,
    volume_id: str,
    body: Annotated[
        BatchAttachSharableVolumesBody,
        Depends(json_body(BatchAttachSharableVolumesBody, Service.ECS)),
    ],
    ctx: ContextDep,
    principal: PrincipalDep,
) -> JSONResponse:
    """Attach one shared disk to many servers: one sub-job per server."""
    server_ids = [item.server_id for item in body.serverinfo]
    authorize(
        ctx, principal, "batch_attach_sharable_volumes", project_id, server_ids,
        extra={"ecs:VolumeId": volume_id},
    )  # fmt: skip
    requests = [AttachRequest(item.server_id, item.device) for item in body.serverinfo]
    job_id = attachments.batch_attach_sharable_volumes(ctx, project_id, volume_id, requests)
    return JSONResponse({"job_id": job_id})


@router.post("/cloudservers/{server_id}/attachvolume")
def attach_server_volume(
    project_id: str,
    server_id: str,
    body: Annotated[
        AttachServerVolumeBody, Depends(json_body(AttachServerVolumeBody, Service.ECS))
    ],
    ctx: ContextDep,
    principal: PrincipalDep,
) -> JSONResponse:
    """Attach a disk to a server."""
    option = body.volume_attachment
    volume_key = {"ecs:VolumeId": option.volume_id} if option.volume_id else {}
    authorize(ctx, principal, "attach_server_volume", project_id, [server_id], extra=volume_key)
    if option.volume_id is None:
        raise invalid_parameter(
            Service.ECS, "Invalid parameter volumeAttachment.volumeId: the field is required."
        )
    job_id = attachments.attach_server_volume(
        ctx, project_id, server_id, option.volume_id, option.device, body.dry_run
    )
    if job_id is None:
        return JSONResponse({}, status_code=202)
    return JSONResponse({"job_id": job_id})


@router.delete("/cloudservers/{server_id}/detachvolume/{volume_id}")
def detach_server_volume(
    project_id: str,
    server_id: str,
    volume_id: str,
    ctx: ContextDep,
    principal: PrincipalDep,
    delete_flag: str = "0",
) -> JSONResponse:
    """Detach a disk from a server; delete_flag=1 forces a data disk off."""
    authorize(ctx, principal, "detach_server_volume", project_id, [server_id])
    if delete_flag not in ("0", "1"):
        raise invalid_parameter(Service.ECS, "Invalid parameter delete_flag: must be 0 or 1.")
    job_id = attachments.detach_server_volume(
        ctx, project_id, server_id, volume_id, force=delete_flag == "1"
    )
    return JSONResponse({"job_id": job_id})


@router.get("/cloudservers/{server_id}/block_device")
def list_server_block_devices(
    project_id: str, server_id: str, ctx: ContextDep, principal: PrincipalDep
) -> JSONResponse:
    """The disks on a server and how many more it can take."""
    authorize(ctx, principal, "list_server_block_devices", project_id, [server_id])
    listing = attachments.list_server_block_devices(ctx, project_id, server_id)
    return JSONResponse(views.block_devices(listing))


@router.get("/cloudservers/{server_id}/block_device/{volume_id}")
def show_server_block_device(
    project_id: str, server_id: str, volume_id: str, ctx: ContextDep, principal: PrincipalDep
) -> JSONResponse:
    """One disk on a server."""
    authorize(ctx, principal, "show_server_block_device", project_id, [server_id])
    device = attachments.show_server_block_device(ctx, project_id, server_id, volume_id)
    return JSONResponse({"volumeAttachment": views.block_device(device)})


@router.get("/cloudservers/{server_id}/os-volume_attachments")
def list_server_volume_attachments(
    project_id: str, server_id: str, ctx: ContextDep, principal: PrincipalDep
) -> JSONResponse:
    """The disks on a server, in the short form."""
    authorize(ctx, principal, "list_server_volume_attachments", project_id, [server_id])
    listing = attachments.list_server_block_devices(ctx, project_id, server_id)
    return JSONResponse(views.volume_attachments(listing))
