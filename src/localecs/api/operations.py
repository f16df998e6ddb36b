"""The Huawei operation a request calls, named as the SDK names it (camelCase of its method):
what an `http` fault matches on."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from localecs.domain.faults import camel_case

CONTROL_PREFIX = "/_localecs"

# Routes whose function name is not the SDK's method name.
_ALIASES = {"create_volume_legacy": "createVolume"}
_POWER_ACTIONS = {"os-start": "batchStartServers", "os-stop": "batchStopServers"}


def operation_of(request: Request, body: bytes) -> str | None:
    endpoint = request.scope.get("endpoint")
    name = getattr(endpoint, "__name__", None)
    if name is None:
        return None
    if name == "batch_server_action":
        # One path, two SDK operations: the body says which.
        try:
            keys = set(json.loads(body)) if body else set()
        except (ValueError, TypeError):
            keys = set()
        for key, operation in _POWER_ACTIONS.items():
            if key in keys:
                return operation
        return None
    return _ALIASES.get(name) or camel_case(name)


def _api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute | Route]:
    for route in routes:
        # Plain Starlette routes too: the hottest calls (ShowJob) skip FastAPI's machinery.
        if isinstance(route, APIRoute | Route):
            yield route
            continue
        # Included routers: Starlette mounts expose `routes`; newer FastAPI wraps an included
        # router and keeps it as `original_router`.
        inner = getattr(route, "routes", None) or getattr(
            getattr(route, "original_router", None), "routes", None
        )
        if inner:
            yield from _api_routes(inner)


def api_operations(routes: Iterable[BaseRoute]) -> frozenset[str]:
    """Every operation name the app answers, for validating what a fault names."""
    names: set[str] = set()
    for route in _api_routes(routes):
        if route.path.startswith(CONTROL_PREFIX):
            continue
        name = route.endpoint.__name__
        if name == "batch_server_action":
            names.update(_POWER_ACTIONS.values())
        else:
            names.add(_ALIASES.get(name) or camel_case(name))
    return frozenset(names)
