"""Pre-signed raw HTTP requests for load generators.

wrk replays request bytes as they are, so every request is signed here once, up front, the way
the Python SDK signs it (SDK-HMAC-SHA256 over the same headers); a signature stays valid for the
15 minutes of the date window, longer than any phase of the benchmark.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from localecs.auth import signing


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    project_id: str


def raw_request(
    host: str,
    method: str,
    path: str,
    *,
    credentials: Credentials | None = None,
    query: list[tuple[str, str]] | None = None,
    body: Any = None,
    content_type: str = "application/json;charset=utf-8",
    extra_headers: dict[str, str] | None = None,
) -> bytes:
    """One complete HTTP/1.1 request (keep-alive), signed when credentials are given."""
    payload = _payload(body)
    raw_query = urlencode(query or [], safe="~")
    headers: dict[str, str] = {"host": host}
    if payload:
        headers["content-type"] = content_type
    headers.update({k.lower(): v for k, v in (extra_headers or {}).items()})
    if credentials is not None:
        headers["x-project-id"] = credentials.project_id
        headers["x-sdk-date"] = datetime.now(UTC).strftime(signing.SDK_DATE_FORMAT)
        headers["authorization"] = authorization(
            credentials, method, path, raw_query, headers, payload
        )
    target = f"{path}?{raw_query}" if raw_query else path
    lines = [f"{method} {target} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"content-length: {len(payload)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


def authorization(
    credentials: Credentials,
    method: str,
    path: str,
    raw_query: str,
    headers: dict[str, str],
    payload: bytes,
) -> str:
    names = sorted(headers)
    canonical = signing.canonical_request(method, path, raw_query, headers, names, payload)
    to_sign = signing.string_to_sign(headers["x-sdk-date"], canonical)
    signature = signing.sign(credentials.secret_key, to_sign)
    return (
        f"{signing.ALGORITHM} Access={credentials.access_key}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )


def _payload(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    return json.dumps(body).encode()
