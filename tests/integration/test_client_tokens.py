"""X-Client-Token bookkeeping: replay, conflict and the 8-hour lifetime, with a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from localecs.clock import FixedClock
from localecs.errors import ApiError, Service
from localecs.services.context import Context
from localecs.services.idempotency import IdempotencyKey, run_once
from localecs.store.repository import Repository
from localecs.store.uow import Database

TOKEN = "46436810-d999-454c-bd85-e515fd258600"


def test_replay_conflict_and_expiry(db: Database) -> None:
    clock = FixedClock(datetime(2024, 1, 1, tzinfo=UTC))
    ctx = Context(db, clock, wake_workers=lambda: None)
    calls: list[datetime] = []

    def create(_repo: Repository, now: datetime) -> dict[str, Any]:
        calls.append(now)
        return {"job_id": f"job-{len(calls)}"}

    key = IdempotencyKey.parse(Service.ECS, TOKEN, '{"server": 1}')
    assert run_once(ctx, "p1", "createServer", key, create) == {"job_id": "job-1"}
    assert run_once(ctx, "p1", "createServer", key, create) == {"job_id": "job-1"}
    assert len(calls) == 1

    # The same token in another project is another token.
    assert run_once(ctx, "p2", "createServer", key, create) == {"job_id": "job-2"}

    other = IdempotencyKey.parse(Service.ECS, TOKEN, '{"server": 2}')
    with pytest.raises(ApiError) as conflict:
        run_once(ctx, "p1", "createServer", other, create)
    assert conflict.value.code == "Ecs.0122"

    clock.current += timedelta(hours=8, seconds=1)
    with pytest.raises(ApiError) as expired:
        run_once(ctx, "p1", "createServer", key, create)
    assert expired.value.code == "Ecs.0124"
    assert len(calls) == 2


def test_a_token_must_be_a_uuid() -> None:
    assert IdempotencyKey.parse(Service.EVS, None, "{}") is None
    with pytest.raises(ApiError) as bad:
        IdempotencyKey.parse(Service.EVS, "46436810d999454cbd85e515fd258600", "{}")
    assert (bad.value.status, bad.value.code) == (400, "EVS.2218")
