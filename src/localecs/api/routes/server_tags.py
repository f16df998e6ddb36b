"""ECS server tags (batch create, batch delete, show)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.responses import JSONResponse, Response

from localecs.api.deps import ContextDep, PrincipalDep, authenticated, json_body
from localecs.api.schemas import ServerTagsActionBody
from localecs.errors import Service, invalid_parameter
from localecs.services import server_tags
from localecs.services.authorization import authorize

router = APIRouter(
    prefix="/v1/{project_id}/cloudservers/{server_id}",
    dependencies=[Depends(authenticated(Service.ECS))],
    tags=["ECS"],
)


@router.post("/tags/action")
def server_tags_action(
    project_id: str,
    server_id: str,
    body: Annotated[ServerTagsActionBody, Depends(json_body(ServerTagsActionBody, Service.ECS))],
    ctx: ContextDep,
    principal: PrincipalDep,
) -> Response:
    """BatchCreateServerTags (action "create") or BatchDeleteServerTags ("delete"): 204."""
    pairs = [(t.key, t.value) for t in body.tags]
    if body.action == "create":
        authorize(
            ctx, principal, "batch_create_server_tags", project_id, [server_id],
            request_tags={k: v or "" for k, v in pairs},
        )  # fmt: skip
        if any(value is None for _, value in pairs):
            raise invalid_parameter(Service.ECS, "Invalid parameter tags: each needs a value.")
        server_tags.batch_create_server_tags(
            ctx, project_id, server_id, [(k, v or "") for k, v in pairs]
        )
    else:
        authorize(ctx, principal, "batch_delete_server_tags", project_id, [server_id])
        server_tags.batch_delete_server_tags(ctx, project_id, server_id, pairs)
    return Response(status_code=204)


@router.get("/tags")
def show_server_tags(
    project_id: str, server_id: str, ctx: ContextDep, principal: PrincipalDep
) -> JSONResponse:
    """The server's tags as key/value objects."""
    authorize(ctx, principal, "show_server_tags", project_id, [server_id])
    tags = server_tags.show_server_tags(ctx, project_id, server_id)
    return JSONResponse({"tags": [{"key": k, "value": v} for k, v in tags.items()]})
