"""Every rejection leaves as a Huawei error body with the request's id."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from localecs.api.responses import JSONResponse
from localecs.errors import ApiError, ErrorFormat, Service, invalid_parameter, service_unavailable
from localecs.store.outage import describe, is_conflict, is_unavailable

log = logging.getLogger("localecs.api")


def service_for_path(path: str) -> Service:
    """EVS owns /v2 and /v2.1 (cloudvolumes); everything else is ECS."""
    return Service.EVS if path.startswith(("/v2/", "/v2.1/")) else Service.ECS


def request_id_of(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", ""))


def error_response(error: ApiError, request_id: str) -> Response:
    return JSONResponse(error.body(request_id), status_code=error.status)


def describe_validation(errors: list[Any]) -> str:
    """One readable sentence naming the offending field, e.g. `serverinfo.1: ...`."""
    first = errors[0]
    location = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
    message = str(first.get("msg", "invalid value"))
    if first.get("type") == "json_invalid":
        return "The request body is not valid JSON."
    if first.get("type") == "missing" and location:
        return f"Invalid parameter {location}: the field is required."
    if first.get("type") == "extra_forbidden":
        return f"Invalid parameter {location}: unknown field."
    return f"Invalid parameter {location}: {message}." if location else f"{message}."


def install(app: FastAPI) -> None:
    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return error_response(exc, request_id_of(request))

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError | ValidationError)
        service = service_for_path(request.url.path)
        error = invalid_parameter(service, describe_validation(list(exc.errors())))
        return error_response(error, request_id_of(request))

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        # Unknown paths and methods are answered by the gateway in the real cloud.
        error = ApiError(
            404,
            "APIG.0101",
            "The API does not exist or has not been published in the environment.",
            ErrorFormat.GATEWAY,
        )
        return error_response(error, request_id_of(request))

    async def on_database_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DBAPIError)
        if not (is_unavailable(exc) or is_conflict(exc)):
            raise exc  # a bug: the middleware's last resort answers 500 and logs it
        # Nothing was changed: the transaction did not commit. The client may retry.
        log.warning(
            "%s %s: database unavailable (%s) [%s]",
            request.method,
            request.url.path,
            describe(exc),
            request_id_of(request),
        )
        error = service_unavailable(service_for_path(request.url.path))
        response = error_response(error, request_id_of(request))
        response.headers["Retry-After"] = "1"
        return response

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(DBAPIError, on_database_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(ValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)


def parse_json(body: bytes, service: Service) -> Any:
    if not body.strip():
        if service is Service.ECS:
            raise ApiError(400, "Common.0002", "The request body is empty.")
        raise invalid_parameter(service, "The request body is empty.")
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise invalid_parameter(service, "The request body is not valid JSON.") from None
