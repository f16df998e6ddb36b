"""ShowJob, shared by ECS and EVS (contract 2.8, 2.17): one store, a union of their entities.

The call a polling client makes over and over, so it is a plain Starlette route: FastAPI's
per-request dependency and parameter machinery costs more than the whole of ShowJob's own work
(bench/README.md). It is matched before every other route (api/app.py).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from localecs.api import views
from localecs.api.deps import project_caller_and_read, run_read
from localecs.api.finished_jobs import FinishedJobs
from localecs.errors import Service
from localecs.services.context import Context
from localecs.services.jobs import JobView
from localecs.services.jobs import show_job as show


async def show_job(request: Request) -> Response:
    """The status of an asynchronous job, with its sub-jobs. Needs no permission (contract 6.2),
    only a valid credential for the project."""
    context: Context = request.app.state.context
    finished: FinishedJobs = request.app.state.finished_jobs
    project_id, job_id = request.path_params["project_id"], request.path_params["job_id"]
    # Kept answers are only looked up here; they are given after the caller is checked.
    kept = finished.get(project_id, job_id, context.clock.now())
    read: Callable[[], object] | None
    if kept is None:
        read = partial(show, context.db, project_id, job_id)
    elif finished.verify:
        read = partial(context.db.hot_reads.job_end, project_id, job_id)
    else:
        read = None
    # The shared path answers a foreign project with Common.0018, as EVS does (contract 9).
    _, found = await project_caller_and_read(request, Service.EVS, read)
    if kept is not None:
        if not finished.verify or found == kept.ended:
            return Response(kept.body, media_type="application/json")
        # Gone (a reset or a purge through another process), or a fault was met first.
        finished.drop(job_id)
    view = found if isinstance(found, JobView) else None
    if view is None:  # a fault was met first, and let the call on; or the kept answer failed
        view = await run_read(context.db.inline_reads, show, context.db, project_id, job_id)
    body = orjson.dumps(views.job(view))
    finished.offer(view, body)
    return Response(body, media_type="application/json")


routes = [Route("/v1/{project_id}/jobs/{job_id}", show_job, methods=["GET"], name="show_job")]
