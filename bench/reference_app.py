"""The references: the least an HTTP JSON service can do on localecs's server stack.

`app` is a bare Starlette application (the issue's reference, "a bare Starlette app on uvicorn
with uvloop and httptools"): two routes, the POST parses its JSON body, each answers a small JSON
document; no validation, no authentication, no storage. `raw_app` is a bare ASGI callable, below
any framework: it reads the body and answers, with no routing at all. Both are served by the same
uvicorn, event loop and HTTP parser as localecs. localecs's rates are expressed against `app`
(the targets) and, for scale, against `raw_app`.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

_HEADERS = [(b"content-type", b"application/json")]


async def _submit(request: Request) -> JSONResponse:
    await request.json()
    return JSONResponse({"job_id": secrets.token_hex(16)})


async def _show(request: Request) -> JSONResponse:
    return JSONResponse({"status": "SUCCESS", "job_id": request.path_params["job_id"]})


app = Starlette(routes=[Route("/jobs", _submit, methods=["POST"]), Route("/jobs/{job_id}", _show)])


async def raw_app(scope: Scope, receive: Receive, send: Send) -> None:
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
