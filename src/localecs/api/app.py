"""The ASGI application factory."""

from __future__ import annotations

import os
from datetime import timedelta

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig

from localecs import __version__
from localecs.api import errors
from localecs.api.finished_jobs import FinishedJobs
from localecs.api.middleware import RequestContextMiddleware
from localecs.api.responses import JSONResponse
from localecs.api.routes import attachments, control, iam, jobs, server_tags, servers, volumes
from localecs.auth.authenticate import Authenticator
from localecs.services.context import Context
from localecs.services.identity import IdentityService


def _telemetry() -> TelemetryConfig | None:
    """FastAPI's OpenTelemetry, only when the operator asks FastAPI to set it up. Otherwise
    FastAPI asks OpenTelemetry on every request whether a provider is configured (reading the
    environment each time): a twentieth of a ShowJob's CPU, for a process that has none."""
    if os.environ.get("FASTAPI_OTEL_AUTO_CONFIGURE", "").lower() == "true":
        return None
    return {"tracing": False, "metrics": False, "logs": False}


def create_app(
    context: Context,
    authenticator: Authenticator,
    max_body_bytes: int,
    identity: IdentityService,
    finished_jobs: FinishedJobs | None = None,
) -> FastAPI:
    app = FastAPI(
        telemetry=_telemetry(),
        title="localecs",
        version=__version__,
        docs_url="/_localecs/docs",
        openapi_url="/_localecs/openapi.json",
        redoc_url=None,
    )
    app.state.context = context
    app.state.authenticator = authenticator
    app.state.identity = identity
    app.state.finished_jobs = finished_jobs or FinishedJobs(enabled=False, retention=timedelta())
    errors.install(app)
    # Routes are matched in order: the most frequent call (ShowJob, polled) comes first.
    app.router.routes.extend(jobs.routes)
    app.include_router(attachments.router)
    app.include_router(servers.router)
    app.include_router(server_tags.router)
    app.include_router(volumes.router)
    app.include_router(iam.router)
    app.include_router(control.router)

    # async: a plain function would cross to a worker thread, for a probe that does nothing.
    @app.get("/_localecs/health", include_in_schema=False)
    async def health() -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__})

    app.add_middleware(RequestContextMiddleware, max_body_bytes=max_body_bytes)
    return app
