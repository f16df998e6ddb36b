"""The ASGI application factory."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.responses import JSONResponse

from localecs import __version__
from localecs.api import errors
from localecs.api.middleware import RequestContextMiddleware
from localecs.api.routes import attachments, control, jobs, servers, volumes
from localecs.auth.authenticate import Authenticator
from localecs.services.context import Context


def create_app(context: Context, authenticator: Authenticator, max_body_bytes: int) -> FastAPI:
    app = FastAPI(
        title="localecs",
        version=__version__,
        docs_url="/_localecs/docs",
        openapi_url="/_localecs/openapi.json",
        redoc_url=None,
    )
    app.state.context = context
    app.state.authenticator = authenticator
    errors.install(app)
    app.include_router(attachments.router)
    app.include_router(servers.router)
    app.include_router(volumes.router)
    app.include_router(jobs.router)
    app.include_router(control.router)

    @app.get("/_localecs/health", include_in_schema=False)
    def health() -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__})

    app.add_middleware(RequestContextMiddleware, max_body_bytes=max_body_bytes)
    return app
