"""Route dependencies: the caller's identity, the parsed body, the service context."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from localecs.api.errors import parse_json
from localecs.api.http_faults import any_faults, meet_http_fault
from localecs.auth.authenticate import Authenticator, Principal, SignedRequest
from localecs.domain.identity import forbidden as identity_forbidden
from localecs.errors import ApiError, Service, project_mismatch
from localecs.services.context import Context

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


async def run_read(inline: bool, function: Callable[..., T], *args: Any) -> T:
    """A read of a statement or two: inline where the store answers in microseconds (SQLite),
    where a hand-off to a thread would cost more than the read; on a thread otherwise."""
    if inline:
        return function(*args)
    return await run_in_threadpool(function, *args)


def _signed_request(request: Request, body: bytes) -> SignedRequest:
    headers: dict[str, str] = {}
    for raw_name, raw_value in request.scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        # The SDK signs header text and sends it as UTF-8; ASGI hands us bytes.
        value = raw_value.decode("utf-8", errors="replace")
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
    return SignedRequest(
        method=request.method,
        raw_path=raw_path.decode("latin-1").split("?", 1)[0],
        raw_query=request.scope.get("query_string", b"").decode("latin-1"),
        headers=headers,
        body=body,
    )


async def project_caller(request: Request, mismatch_service: Service) -> Principal:
    """Checks the signature, then that the path's project is the caller's: before anything
    else is looked up, so another project's resources are never revealed. Then meets any
    HTTP fault set for the call (services/faults.py)."""
    principal, _ = await project_caller_and_read(request, mismatch_service, None)
    return principal


async def project_caller_and_read(
    request: Request, mismatch_service: Service, read: Callable[[], T] | None
) -> tuple[Principal, T | None]:
    """``project_caller``, and then `read` in the same trip to a thread (PostgreSQL), if the
    call may go on at once: the caller's project is the path's and no fault is set. Its result
    is None otherwise, and the route reads after the fault it met (if that let the call on)."""
    authenticator: Authenticator = request.app.state.authenticator
    context: Context = request.app.state.context
    signed = _signed_request(request, await request.body())
    path_project = request.path_params.get("project_id")
    principal, faults_set, value = await run_read(
        context.db.inline_reads,
        _caller_faults_and_read,
        authenticator,
        signed,
        path_project,
        request,
        read,
    )
    if not _is_projects_caller(principal, signed, path_project):
        raise project_mismatch(mismatch_service)
    # Routes read it back through PrincipalDep to authorize the operation.
    request.state.principal = principal
    # Matching faults takes a transaction: only when there is a fault to meet.
    if faults_set:
        await run_in_threadpool(meet_http_fault, request, signed.body, principal)
    return principal, value


def _is_projects_caller(
    principal: Principal, signed: SignedRequest, path_project: str | None
) -> bool:
    # The SDK also sends (and signs) the project as X-Project-Id: it must agree as well.
    header_project = signed.headers.get("x-project-id", path_project)
    return path_project == principal.project_id and header_project == path_project


def _caller_faults_and_read(
    authenticator: Authenticator,
    signed: SignedRequest,
    project_id: str | None,
    request: Request,
    read: Callable[[], T] | None,
) -> tuple[Principal, bool, T | None]:
    """The reads every call makes, in one trip to a thread (PostgreSQL): the caller, and
    whether any fault is set (a flag only; nothing is revealed before the project check);
    then the route's own read, when the call may go on."""
    principal = authenticator.authenticate(signed, project_id)
    faults_set = any_faults(request)
    if read is None or faults_set or not _is_projects_caller(principal, signed, project_id):
        return principal, faults_set, None
    return principal, faults_set, read()


def authenticated(mismatch_service: Service) -> Callable[[Request], Awaitable[Principal]]:
    """``project_caller`` as a router dependency."""

    async def dependency(request: Request) -> Principal:
        return await project_caller(request, mismatch_service)

    return dependency


async def iam_caller(request: Request) -> Principal:
    """The caller of an IAM operation: any credential (signature or token) of an account.
    The IAM client sends its account as X-Domain-Id; it must be the credential's."""
    authenticator: Authenticator = request.app.state.authenticator
    context: Context = request.app.state.context
    signed = _signed_request(request, await request.body())
    principal = await run_read(context.db.inline_reads, authenticator.authenticate, signed)
    domain = signed.headers.get("x-domain-id")
    if domain is not None and domain != principal.account_id:
        raise identity_forbidden()
    return principal


IamCallerDep = Annotated[Principal, Depends(iam_caller)]


async def root(request: Request) -> Principal:
    """The control API (/_localecs/...) is signed like any call, and only for the root."""
    authenticator: Authenticator = request.app.state.authenticator
    context: Context = request.app.state.context
    signed = _signed_request(request, await request.body())
    principal = await run_read(context.db.inline_reads, authenticator.authenticate, signed)
    if not principal.is_root:
        raise ApiError(403, "Pdp.0001", "Policy doesn't allow localecs:control:* to be performed.")
    return principal


def json_body(model: type[M], service: Service) -> Callable[[Request], Awaitable[M]]:
    """Parses and validates a body after authentication (a route dependency runs after the
    router's), so an unsigned request with a bad body is a 401, not a 400."""

    async def dependency(request: Request) -> M:
        data: Any = parse_json(await request.body(), service)
        return model.model_validate(data)

    return dependency


async def _context(request: Request) -> Context:
    context: Context = request.app.state.context
    return context


ContextDep = Annotated[Context, Depends(_context)]


async def _principal(request: Request) -> Principal:
    """The caller the router's ``authenticated`` dependency established (it runs first).
    async although it awaits nothing: FastAPI would run a plain function on a thread."""
    principal: Principal = request.state.principal
    return principal


PrincipalDep = Annotated[Principal, Depends(_principal)]
