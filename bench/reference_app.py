"""The bare ASGI reference: the least an HTTP JSON service can do on localecs's server stack.

It reads the request body and answers a small JSON document, nothing else (no routing, no
validation, no authentication, no storage). Served by the same uvicorn, event loop and HTTP
parser as localecs, it is the ceiling that localecs's rates are expressed against.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from starlette.types import Receive, Scope, Send

_HEADERS = [(b"content-type", b"application/json")]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    answer: dict[str, Any] = {"job_id": secrets.token_hex(16)}
    if scope["method"] == "GET":
        answer = {"status": "SUCCESS", **answer}
    body = json.dumps(answer).encode()
    headers = [*_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
