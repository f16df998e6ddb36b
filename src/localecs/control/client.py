"""A small signed HTTP client for the control API, on the standard library alone.

It signs exactly as the official SDK does (SDK-HMAC-SHA256, through localecs.auth.signing), so
the control API needs no second authentication scheme.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from localecs.auth import signing


class ControlError(Exception):
    """The service refused a control call; carries its status, Huawei code and request id."""

    def __init__(self, status: int, code: str, message: str, request_id: str) -> None:
        super().__init__(f"{status} {code}: {message} [{request_id}]")
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id


class ControlClient:
    def __init__(
        self, endpoint: str, access_key: str, secret_key: str, timeout: float = 30
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._access_key = access_key
        self._secret_key = secret_key
        self._timeout = timeout

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """Sends one signed request; returns the decoded JSON answer (None when empty)."""
        payload = json.dumps(body).encode() if body is not None else b""
        headers = self._signed_headers(method, path, payload)
        request = urllib.request.Request(
            self.endpoint + path, data=payload or None, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                text = response.read()
        except urllib.error.HTTPError as error:
            raise _control_error(error) from None
        return json.loads(text) if text else None

    def _signed_headers(self, method: str, path: str, payload: bytes) -> dict[str, str]:
        host = urlsplit(self.endpoint).netloc
        headers = {
            "host": host,
            "content-type": "application/json",
            "x-sdk-date": datetime.now(UTC).strftime(signing.SDK_DATE_FORMAT),
        }
        names = sorted(headers)
        canonical = signing.canonical_request(method, path, "", headers, names, payload)
        signature = signing.sign(
            self._secret_key, signing.string_to_sign(headers["x-sdk-date"], canonical)
        )
        headers["authorization"] = (
            f"{signing.ALGORITHM} Access={self._access_key}, "
            f"SignedHeaders={';'.join(names)}, Signature={signature}"
        )
        return headers


def _control_error(error: urllib.error.HTTPError) -> ControlError:
    request_id = error.headers.get("X-Request-Id", "")
    try:
        body = json.loads(error.read())
    except ValueError:
        body = {}
    inner = body.get("error", body) if isinstance(body, dict) else {}
    code = str(inner.get("code") or inner.get("error_code") or error.code)
    message = str(inner.get("message") or inner.get("error_msg") or error.reason)
    return ControlError(error.code, code, message, request_id)
