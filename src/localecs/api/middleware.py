"""The outermost layer: request ids, the body size limit, the access log and the last resort
against a 500 without a Huawei body."""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from localecs.errors import ApiError, ErrorFormat
from localecs.ids import new_request_id

log = logging.getLogger("localecs.access")


class BodyTooLarge(Exception):
    pass


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413, "APIG.0201", f"The request body exceeds {limit} bytes.", ErrorFormat.GATEWAY
    )


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = {"code": 0}
        request_id_header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message["headers"] = [*message.get("headers", []), request_id_header]
            await send(message)

        try:
            if self._declared_length(scope) > self.max_body_bytes:
                raise BodyTooLarge
            await self.app(scope, self._limited(receive), send_with_id)
        except BodyTooLarge:
            await self._reply(send_with_id, status, _too_large(self.max_body_bytes), request_id)
        except Exception:
            log.exception(
                "unhandled error in %s %s [%s]", scope["method"], scope["path"], request_id
            )
            error = ApiError(500, "Common.0001", "Internal error.")
            await self._reply(send_with_id, status, error, request_id)
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            log.info(
                "%s %s %s %.1fms [%s]",
                scope["method"],
                scope["path"],
                status["code"],
                elapsed_ms,
                request_id,
            )

    @staticmethod
    def _declared_length(scope: Scope) -> int:
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    return int(value)
                except ValueError:
                    return 0
        return 0

    def _limited(self, receive: Receive) -> Receive:
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge
            return message

        return limited_receive

    @staticmethod
    async def _reply(send: Send, status: dict[str, int], error: ApiError, request_id: str) -> None:
        if status["code"]:
            return  # the response has started; nothing more can be said on this connection
        body = orjson.dumps(error.body(request_id))
        headers: list[Any] = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": error.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
