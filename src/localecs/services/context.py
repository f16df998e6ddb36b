"""What every service call needs: the database, the clock, and a way to wake the workers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from localecs.clock import Clock
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
