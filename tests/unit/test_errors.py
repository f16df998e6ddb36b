"""Error bodies and codes (contract 4.1 and section 8)."""

from __future__ import annotations

import json

import pytest

from localecs.api.errors import error_response, parse_json, service_for_path
from localecs.errors import (
    ApiError,
    ErrorFormat,
    Service,
    authentication_failed,
    forbidden,
    invalid_parameter,
    job_not_found,
    project_mismatch,
    server_not_found,
    volume_not_found,
)

REQUEST_ID = "0123456789abcdef0123456789abcdef"


def test_service_error_body_is_nested_code_and_message() -> None:
    error = ApiError(400, "Ecs.0005", "Invalid parameter serverinfo.")

    assert error.error_format is ErrorFormat.SERVICE
    assert error.body(REQUEST_ID) == {
        "error": {"code": "Ecs.0005", "message": "Invalid parameter serverinfo."}
    }


def test_gateway_error_body_is_flat_with_request_id() -> None:
    error = ApiError(401, "APIG.0301", "bad signature", ErrorFormat.GATEWAY)

    assert error.body(REQUEST_ID) == {
        "error_code": "APIG.0301",
        "error_msg": "bad signature",
        "request_id": REQUEST_ID,
    }


def test_api_error_carries_status_code_and_message() -> None:
    error = ApiError(404, "Ecs.0114", "Instance s could not be found.")

    assert (error.status, error.code, error.message) == (
        404,
        "Ecs.0114",
        "Instance s could not be found.",
    )
    assert str(error) == "Instance s could not be found."
    assert repr(error) == "ApiError(404, 'Ecs.0114', 'Instance s could not be found.')"


def test_bodies_are_json_serialisable() -> None:
    for error in (server_not_found("s"), authentication_failed("x")):
        assert json.loads(json.dumps(error.body(REQUEST_ID))) == error.body(REQUEST_ID)


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (invalid_parameter(Service.ECS, "m"), 400, "Ecs.0005"),
        (invalid_parameter(Service.EVS, "m"), 400, "EVS.5400"),
        (project_mismatch(Service.ECS), 400, "Ecs.0023"),
        (project_mismatch(Service.EVS), 400, "Common.0018"),
        (forbidden(Service.ECS, "ecs:cloudServers:attach"), 403, "Pdp.0001"),
        (forbidden(Service.EVS, "evs:volumes:delete"), 403, "EVS.2056"),
        (server_not_found("srv-9"), 404, "Ecs.0114"),
        (volume_not_found("vol-9"), 404, "EVS.5404"),
        (job_not_found("job-9"), 400, "Common.0011"),
    ],
)
def test_service_errors_have_documented_status_and_code(
    error: ApiError, status: int, code: str
) -> None:
    assert (error.status, error.code) == (status, code)
    assert error.error_format is ErrorFormat.SERVICE
    assert error.body(REQUEST_ID) == {"error": {"code": code, "message": error.message}}


def test_not_found_messages_name_the_id() -> None:
    assert volume_not_found("vol-9").message == "Volume vol-9 could not be found."
    assert "srv-9" in server_not_found("srv-9").message
    assert "job-9" in job_not_found("job-9").message


def test_forbidden_message_names_the_action() -> None:
    error = forbidden(Service.ECS, "ecs:cloudServers:attach")

    assert error.message == "Policy doesn't allow ecs:cloudServers:attach to be performed."


def test_authentication_failure_is_a_gateway_401() -> None:
    error = authentication_failed("verify aksk signature fail")

    assert error.status == 401
    assert error.error_format is ErrorFormat.GATEWAY
    assert error.body(REQUEST_ID) == {
        "error_code": "APIG.0301",
        "error_msg": "Incorrect IAM authentication information: verify aksk signature fail",
        "request_id": REQUEST_ID,
    }


# The HTTP side (api/errors.py)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            server_not_found("s"),
            {"error": {"code": "Ecs.0114", "message": "Instance s could not be found."}},
        ),
        (
            authentication_failed("x"),
            {
                "error_code": "APIG.0301",
                "error_msg": "Incorrect IAM authentication information: x",
                "request_id": REQUEST_ID,
            },
        ),
    ],
)
def test_error_response_carries_body_and_status(error: ApiError, expected: object) -> None:
    response = error_response(error, REQUEST_ID)

    assert response.status_code == error.status
    assert json.loads(bytes(response.body)) == expected


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/v1/p/cloudservers/s/detachvolume/v", Service.ECS),
        ("/v1/p/jobs/j", Service.ECS),
        ("/v2/p/cloudvolumes/v", Service.EVS),
        ("/v2.1/p/cloudvolumes", Service.EVS),
    ],
)
def test_service_for_path(path: str, service: Service) -> None:
    assert service_for_path(path) is service


@pytest.mark.parametrize(
    ("service", "body", "code"),
    [
        (Service.ECS, b"", "Common.0002"),
        (Service.ECS, b"  \n", "Common.0002"),
        (Service.EVS, b"", "EVS.5400"),
        (Service.ECS, b"{not json", "Ecs.0005"),
        (Service.EVS, b"{not json", "EVS.5400"),
        (Service.ECS, b"\xff\xfe", "Ecs.0005"),
    ],
)
def test_parse_json_rejects_empty_and_malformed_bodies(
    service: Service, body: bytes, code: str
) -> None:
    with pytest.raises(ApiError) as excinfo:
        parse_json(body, service)

    assert (excinfo.value.status, excinfo.value.code) == (400, code)


def test_parse_json_returns_the_document() -> None:
    assert parse_json(b'{"serverinfo": ["s-1", "s-2"]}', Service.ECS) == {
        "serverinfo": ["s-1", "s-2"]
    }
