"""X-Client-Token: a retried create gets the first answer instead of creating again.

Huawei's rules ("Idempotent Requests" in the ECS API reference; EVS error codes): the token is a
UUID, valid for 8 hours; reusing it with other parameters is an error.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from localecs.errors import ApiError, Service
from localecs.services.context import Context
from localecs.store.repository import Repository
from localecs.store.tables import ClientToken
from localecs.store.uow import retry_on_conflict

TOKEN_LIFETIME = timedelta(hours=8)
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

# (not a UUID, reused with other parameters, expired)
_CODES = {
    Service.ECS: ("Ecs.0123", "Ecs.0122", "Ecs.0124"),
    Service.EVS: ("EVS.2218", "EVS.2219", "EVS.2220"),
}


@dataclass(frozen=True)
class IdempotencyKey:
    service: Service
    token: str
    request_digest: str

    @classmethod
    def parse(
        cls, service: Service, token: str | None, canonical_request: str
    ) -> IdempotencyKey | None:
        if token is None:
            return None
        if not _UUID.fullmatch(token):
            raise ApiError(400, _CODES[service][0], "X-Client-Token must be a UUID.")
        digest = hashlib.sha256(canonical_request.encode()).hexdigest()
        return cls(service, token, digest)


@retry_on_conflict
def run_once(
    ctx: Context,
    project_id: str,
    operation: str,
    key: IdempotencyKey | None,
    create: Callable[[Repository, datetime], dict[str, Any]],
) -> dict[str, Any]:
    """Runs `create` in a write transaction, unless `key` was seen: then returns its answer."""
    try:
        with ctx.db.write() as repo:
            now = ctx.clock.now()
            if key is not None:
                seen = repo.session.get(ClientToken, (project_id, key.token))
                if seen is not None:
                    return _replay(seen, operation, key, now)
            response = create(repo, now)
            if key is not None:
                repo.add(_remember(project_id, operation, key, response, now))
                repo.flush()
    except IntegrityError:
        if key is None:
            raise
        # The same token arrived twice at once and the other request won: answer as it did.
        with ctx.db.read() as repo:
            seen = repo.session.get(ClientToken, (project_id, key.token))
            if seen is None:
                raise
            return _replay(seen, operation, key, ctx.clock.now())
    ctx.wake_workers()
    return response


def _replay(
    seen: ClientToken, operation: str, key: IdempotencyKey, now: datetime
) -> dict[str, Any]:
    _, conflict, expired = _CODES[key.service]
    if seen.operation != operation or seen.request_digest != key.request_digest:
        raise ApiError(400, conflict, "X-Client-Token was already used for a different request.")
    if now - seen.created_at > TOKEN_LIFETIME:
        raise ApiError(400, expired, "X-Client-Token is more than 8 hours old.")
    return dict(seen.response)


def _remember(
    project_id: str, operation: str, key: IdempotencyKey, response: dict[str, Any], now: datetime
) -> ClientToken:
    return ClientToken(
        project_id=project_id,
        token=key.token,
        operation=operation,
        request_digest=key.request_digest,
        response=response,
        created_at=now,
    )
