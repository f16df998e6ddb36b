"""Faults: adding, listing and clearing them, and deciding which one a call or a task meets."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from localecs.domain.faults import (
    Action,
    FaultSpec,
    Target,
    fires,
    invalid,
    parse_spec,
    spec_from_json,
)
from localecs.errors import ApiError
from localecs.store import control
from localecs.store.tables import Fault
from localecs.store.uow import Database

_ID_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


@dataclass(frozen=True)
class FaultView:
    id: str
    spec: FaultSpec
    matches: int
    applied: int
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            **self.spec.to_json(),
            "matches": self.matches,
            "applied": self.applied,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class Fired:
    """A fault that fires on this call or task: the `match_number`-th time it matched."""

    fault_id: str
    spec: FaultSpec
    match_number: int


def _view(row: Fault) -> FaultView:
    return FaultView(row.id, spec_from_json(row.spec), row.matches, row.applied, row.created_at)


def fault_not_found(fault_id: str) -> ApiError:
    return ApiError(404, "LocalEcs.0404", f"Fault {fault_id} could not be found.")


def add_fault(
    db: Database, now: datetime, data: Mapping[str, Any], known_operations: Iterable[str]
) -> FaultView:
    spec = parse_spec(data, known_operations)
    fault_id = data.get("id")
    if fault_id is not None and (
        not isinstance(fault_id, str)
        or not 0 < len(fault_id) <= 64
        or not set(fault_id) <= _ID_CHARACTERS
    ):
        raise invalid("Invalid parameter id: 1-64 letters, digits, '-', '_' or '.'.")
    with db.write() as repo:
        if fault_id is not None and control.fault(repo, fault_id) is not None:
            raise ApiError(409, "LocalEcs.0409", f"A fault with id {fault_id} already exists.")
        return _view(control.add_fault(repo, fault_id, spec.to_json(), now))


def list_faults(db: Database) -> list[FaultView]:
    with db.read() as repo:
        return [_view(row) for row in control.faults(repo)]


def show_fault(db: Database, fault_id: str) -> FaultView:
    with db.read() as repo:
        row = control.fault(repo, fault_id)
        if row is None:
            raise fault_not_found(fault_id)
        return _view(row)


def delete_fault(db: Database, fault_id: str) -> None:
    with db.write() as repo:
        if control.delete_faults(repo, fault_id) == 0:
            raise fault_not_found(fault_id)


def clear_faults(db: Database) -> int:
    with db.write() as repo:
        return control.delete_faults(repo)


def any_set(db: Database) -> bool:
    """Whether any fault is set: one read of a few microseconds, so that calls meeting no fault
    (all of them, outside fault-injection tests) pay nothing more."""
    return db.hot_reads.any_fault()


def meet(
    db: Database, describe: Callable[[], Target], kinds: Callable[[Action], bool]
) -> Fired | None:
    """The first fault (oldest first) of the given kinds that matches the target and fires.

    Every matching fault that is still live counts the match (that count is what makes a
    probability decision replayable); the first that fires also counts as applied. A read
    first keeps calls that meet no fault off the write lock; `describe` builds the target
    only when there are faults to match it against.
    """
    if not any_set(db):
        return None
    with db.read() as repo:
        rows = control.faults(repo)
        if not rows:
            return None
        target = describe()
        candidates = [row.id for row in rows if _live(row, target, kinds)]
    if not candidates:
        return None
    with db.write() as repo:
        for row in control.faults(repo, lock=True):
            if row.id not in candidates or not _live(row, target, kinds):
                continue
            spec = spec_from_json(row.spec)
            row.matches += 1
            if fires(spec, row.id, row.matches, row.applied):
                row.applied += 1
                return Fired(row.id, spec, row.matches)
    return None


def _live(row: Fault, target: Target, kinds: Callable[[Action], bool]) -> bool:
    spec = spec_from_json(row.spec)
    exhausted = spec.times is not None and row.applied >= spec.times
    return kinds(spec.action) and not exhausted and spec.matches(target)
