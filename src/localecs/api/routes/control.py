"""The control API under /_localecs/: faults, time (latency profile, holds, releases) and state.

Signed like every call and allowed only to the root credential. docs/faults-and-time.md
describes each call.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse, Response

from localecs.api.deps import ContextDep, root
from localecs.api.operations import api_operations
from localecs.domain.faults import invalid
from localecs.services import faults, state, timing
from localecs.services.timing import ReleaseFilter

router = APIRouter(prefix="/_localecs", dependencies=[Depends(root)], tags=["Control"])


async def _json(request: Request) -> Any:
    body = await request.body()
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise invalid("The request body is not valid JSON.") from None


async def _object(request: Request) -> dict[str, Any]:
    data = await _json(request)
    if not isinstance(data, dict):
        raise invalid("The request body must be a JSON object.")
    return data


@router.post("/faults")
async def add_fault(request: Request, ctx: ContextDep) -> JSONResponse:
    """Add a fault; it applies at once, in every process on this store."""
    data = await _object(request)
    known = api_operations(request.app.routes)
    view = faults.add_fault(ctx.db, ctx.clock.now(), data, known)
    return JSONResponse(view.to_json(), status_code=201)


@router.get("/faults")
def list_faults(ctx: ContextDep) -> JSONResponse:
    """Every fault, oldest first, with how often each matched and fired."""
    return JSONResponse({"faults": [view.to_json() for view in faults.list_faults(ctx.db)]})


@router.get("/faults/{fault_id}")
def show_fault(fault_id: str, ctx: ContextDep) -> JSONResponse:
    """One fault."""
    return JSONResponse(faults.show_fault(ctx.db, fault_id).to_json())


@router.delete("/faults/{fault_id}")
def delete_fault(fault_id: str, ctx: ContextDep) -> Response:
    """Remove one fault."""
    faults.delete_fault(ctx.db, fault_id)
    return Response(status_code=204)


@router.delete("/faults")
def clear_faults(ctx: ContextDep) -> JSONResponse:
    """Remove every fault."""
    return JSONResponse({"deleted": faults.clear_faults(ctx.db)})


@router.get("/latency")
def show_latency(ctx: ContextDep) -> JSONResponse:
    """The latency profile in force."""
    return JSONResponse(timing.read_latency(ctx.db, ctx.latency).to_json())


@router.put("/latency")
async def set_latency(request: Request, ctx: ContextDep) -> JSONResponse:
    """Change the latency profile (and per-operation overrides) for every process."""
    data = await _object(request)
    return JSONResponse(timing.set_latency(ctx.db, data).to_json())


@router.get("/holds")
def list_holds(ctx: ContextDep) -> JSONResponse:
    """The tasks waiting for a release, oldest first."""
    held = timing.list_held(ctx.db, ctx.latency)
    return JSONResponse({"held": [h.to_json() for h in held]})


@router.post("/release")
async def release(request: Request, ctx: ContextDep) -> JSONResponse:
    """Let held tasks pass their current hold: all that match, or the oldest `limit`."""
    wanted = ReleaseFilter.parse(await _object(request))
    released = timing.release(ctx.db, ctx.latency, wanted)
    if released:
        ctx.wake_workers()
    return JSONResponse({"released": [h.to_json() for h in released]})


@router.post("/reset")
def reset(request: Request, ctx: ContextDep) -> JSONResponse:
    """Empty every project (credentials stay), clear faults, holds and the run-time profile."""
    state.reset(ctx.db)
    request.app.state.finished_jobs.clear()
    return JSONResponse({"status": "reset"})


@router.get("/projects/{project_id}/state")
def export_state(project_id: str, ctx: ContextDep) -> JSONResponse:
    """A project's servers, disks, attachments and jobs as one JSON document."""
    return JSONResponse(state.export_project(ctx.db, project_id, ctx.clock.now()))


@router.put("/projects/{project_id}/state")
async def import_state(project_id: str, request: Request, ctx: ContextDep) -> JSONResponse:
    """Replace a project's state with an exported document, all or nothing."""
    document = await _json(request)
    counts = state.import_project(ctx.db, project_id, document)
    request.app.state.finished_jobs.clear()
    return JSONResponse({"imported": counts})
