"""Plain HTTP against localecs for what the SDK cannot express (bad bodies, odd headers,
foreign projects), signed by the SDK's own signer so authentication passes unless a test
deliberately breaks it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")
JSON_UTF8 = "application/json;charset=utf-8"
_SDK_DATE = "%Y%m%dT%H%M%SZ"


class Target(Protocol):
    """What a request needs to know about a running service (conftest's RunningService)."""

    @property
    def endpoint(self) -> str: ...

    @property
    def access_key(self) -> str: ...

    @property
    def secret_key(self) -> str: ...

    @property
    def project_id(self) -> str: ...


def sdk_date(offset: timedelta = timedelta(0)) -> str:
    return (datetime.now(UTC) + offset).strftime(_SDK_DATE)


def encode_body(body: Any) -> bytes:
    """Bytes go as they are (malformed JSON); anything else the way the SDK serialises it."""
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()


def request(
    target: Target,
    method: str,
    path: str,
    *,
    body: Any = None,
    query: Iterable[tuple[str, str]] = (),
    headers: Mapping[str, str] | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
    project_header: str | None = None,
    date: str | None = None,
    sign: bool = True,
    tamper_body: bytes | None = None,
    tamper_headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """One request, signed as the Python SDK signs it (same headers, same canonical form).

    `tamper_body` and `tamper_headers` are sent in place of what was signed, to prove that
    the signature covers them (or to send what the signer cannot produce).
    """
    payload = encode_body(body)
    host = urlsplit(target.endpoint).netloc
    signed_headers: dict[str, str] = {
        "User-Agent": "huaweicloud-usdk-python/3.0",
        "X-Project-Id": project_header if project_header is not None else target.project_id,
        "Content-Type": JSON_UTF8 if payload else "application/json",
        **(headers or {}),
    }
    if date is not None:
        signed_headers["X-Sdk-Date"] = date
    query_params = list(query)
    sdk_request = SdkRequest(
        method=method,
        schema="http",
        host=host,
        resource_path=path,
        uri=path,
        query_params=query_params,
        header_params=signed_headers,
        body=payload,
    )
    if sign:
        credentials = BasicCredentials(
            access_key or target.access_key, secret_key or target.secret_key, target.project_id
        )
        sdk_request = Signer(credentials).sign(sdk_request)
    else:
        # The signer's canonical query string is also the wire query; keep them identical.
        Signer.process_request_uri(sdk_request)
    with httpx.Client(timeout=30) as client:
        response = client.request(
            method,
            f"{target.endpoint}{sdk_request.uri}",
            content=tamper_body if tamper_body is not None else payload,
            headers={**sdk_request.header_params, **(tamper_headers or {})},
        )
    # Whatever a test sends, the service never answers with a 5xx.
    assert response.status_code < 500, (response.status_code, response.text)
    return response


def error_of(response: httpx.Response) -> tuple[str, str]:
    """(code, message) of a service-format error body, checking its exact shape."""
    body = response.json()
    assert list(body) == ["error"], body
    error = body["error"]
    assert set(error) <= {"code", "message", "details"}, error
    assert isinstance(error["code"], str) and isinstance(error["message"], str), error
    assert error["message"], error
    return error["code"], error["message"]


def assert_service_error(response: httpx.Response, status: int, code: str) -> str:
    """Checks status, code, the service error shape and the request id; returns the message."""
    assert response.status_code == status, (response.status_code, response.text)
    assert_request_id(response)
    assert response.headers["content-type"].startswith("application/json")
    found, message = error_of(response)
    assert found == code, response.text
    return message


def assert_gateway_error(response: httpx.Response, status: int, code: str) -> str:
    """The gateway's shape: error_code, error_msg and the request id, which equals the header's."""
    assert response.status_code == status, (response.status_code, response.text)
    request_id = assert_request_id(response)
    body = response.json()
    assert set(body) == {"error_code", "error_msg", "request_id"}, body
    assert body["error_code"] == code, body
    assert body["request_id"] == request_id, body
    assert isinstance(body["error_msg"], str) and body["error_msg"], body
    return str(body["error_msg"])


def assert_request_id(response: httpx.Response) -> str:
    request_id = str(response.headers.get("x-request-id", ""))
    assert REQUEST_ID.match(request_id), response.headers
    return request_id
