"""What every service call needs: the database, the clock, and a way to wake the workers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from localecs.clock import Clock
from localecs.domain.latency import LatencySetting
from localecs.store.uow import Database


@dataclass(frozen=True)
class Context:
    db: Database
    clock: Clock
    # Called after a transaction that submitted work has committed.
    wake_workers: Callable[[], None]
    # The region resource URNs name (ecs:<region>:<account>:instance:<id>) and
    # g:RequestedRegion holds.
    region: str = "cn-north-4"
    # The latency profile this process started with (`serve --latency-profile`).
    latency: LatencySetting = field(default_factory=LatencySetting)
