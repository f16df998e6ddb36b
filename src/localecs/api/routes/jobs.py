"""ShowJob, shared by ECS and EVS (contract 2.8, 2.17): one store, a union of their entities."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from localecs.api import views
from localecs.api.deps import ContextDep, authenticated, run_read
from localecs.api.responses import JSONResponse
from localecs.errors import Service
from localecs.services.jobs import show_job as show

# The shared path answers a foreign project with Common.0018, as EVS does (contract 9).
router = APIRouter(dependencies=[Depends(authenticated(Service.EVS))], tags=["Jobs"])


@router.get("/v1/{project_id}/jobs/{job_id}")
async def show_job(project_id: str, job_id: str, ctx: ContextDep) -> JSONResponse:
    """The status of an asynchronous job, with its sub-jobs."""
    view = await run_read(ctx.db.inline_reads, show, ctx.db, project_id, job_id)
    return JSONResponse(views.job(view))
