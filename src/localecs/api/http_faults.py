"""Injected `http` faults: a call is answered with the fault's error before it is handled."""

from __future__ import annotations

from starlette.requests import Request

from localecs.api.operations import operation_of
from localecs.auth.authenticate import Principal
from localecs.domain.faults import Action, Target
from localecs.errors import ApiError, ErrorFormat
from localecs.services import faults
from localecs.services.context import Context


def any_faults(request: Request) -> bool:
    context: Context = request.app.state.context
    return faults.any_set(context.db)


def meet_http_fault(request: Request, body: bytes, principal: Principal) -> None:
    """An injected `http` fault answers the call before anything is looked up or changed."""
    context: Context = request.app.state.context

    def describe() -> Target:
        return Target(
            frozenset(filter(None, [operation_of(request, body)])),
            principal.project_id,
            request.path_params.get("server_id"),
            request.path_params.get("volume_id"),
        )

    fired = faults.meet(context.db, describe, lambda action: action is Action.HTTP)
    if fired is not None:
        spec = fired.spec
        assert spec.status is not None and spec.error_code is not None
        style = ErrorFormat.GATEWAY if spec.error_code.startswith("APIG.") else ErrorFormat.SERVICE
        raise ApiError(spec.status, spec.error_code, spec.error_msg or "Injected fault.", style)
