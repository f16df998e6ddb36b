"""The error taxonomy: one exception type whose code and wire format are data.

Huawei's services answer errors in three shapes (contract section 4.1):

* ECS and EVS: ``{"error": {"code": "Ecs.0005", "message": "..."}}``
* the API gateway (authentication): ``{"error_code": "APIG.0301", "error_msg": "...",
  "request_id": "..."}``

Which shape a rejection takes depends on who rejects it, so it travels with the error.
"""

from __future__ import annotations

from enum import Enum
from typing import Any


class Service(Enum):
    """The Huawei service a path belongs to; it decides codes for generic failures."""

    ECS = "ecs"
    EVS = "evs"


class ErrorFormat(Enum):
    SERVICE = "service"
    GATEWAY = "gateway"


class ApiError(Exception):
    """A request that the service rejects, with the HTTP status and Huawei error code."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        error_format: ErrorFormat = ErrorFormat.SERVICE,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.error_format = error_format

    def body(self, request_id: str) -> dict[str, Any]:
        if self.error_format is ErrorFormat.GATEWAY:
            return {"error_code": self.code, "error_msg": self.message, "request_id": request_id}
        return {"error": {"code": self.code, "message": self.message}}

    def __repr__(self) -> str:
        return f"ApiError({self.status}, {self.code!r}, {self.message!r})"


# Codes that depend on the service that answers (contract 4.2, 4.3 and section 8).
_INVALID_PARAMETER = {Service.ECS: "Ecs.0005", Service.EVS: "EVS.5400"}
_PROJECT_MISMATCH = {Service.ECS: "Ecs.0023", Service.EVS: "Common.0018"}
_FORBIDDEN = {Service.ECS: "Pdp.0001", Service.EVS: "EVS.2056"}
# EVS documents a 503 code (contract 4.3); ECS has none, so its generic system error (section 8).
_UNAVAILABLE = {Service.ECS: "Common.0001", Service.EVS: "EVS.5503"}


def invalid_parameter(service: Service, message: str) -> ApiError:
    return ApiError(400, _INVALID_PARAMETER[service], message)


def project_mismatch(service: Service) -> ApiError:
    return ApiError(
        400,
        _PROJECT_MISMATCH[service],
        "The project ID in the URL does not match the project of the credential.",
    )


def forbidden(service: Service, action: str) -> ApiError:
    return ApiError(403, _FORBIDDEN[service], f"Policy doesn't allow {action} to be performed.")


def service_unavailable(service: Service) -> ApiError:
    return ApiError(
        503,
        _UNAVAILABLE[service],
        "The service is temporarily unavailable: its database cannot be reached. Retry later.",
    )


def authentication_failed(reason: str) -> ApiError:
    return ApiError(
        401,
        "APIG.0301",
        f"Incorrect IAM authentication information: {reason}",
        ErrorFormat.GATEWAY,
    )


def throttled() -> ApiError:
    return ApiError(
        429,
        "APIG.0308",
        "The throttling threshold has been reached: too many requests for this credential.",
        ErrorFormat.GATEWAY,
    )


def server_not_found(server_id: str) -> ApiError:
    return ApiError(404, "Ecs.0114", f"Instance {server_id} could not be found.")


def volume_not_found(volume_id: str) -> ApiError:
    return ApiError(404, "EVS.5404", f"Volume {volume_id} could not be found.")


def job_not_found(job_id: str) -> ApiError:
    return ApiError(400, "Common.0011", f"Failed to query the job: no job {job_id} exists.")
