"""Database failures that are not the caller's fault: conflicts are retried a bounded number of
times, outages are logged once and backed off."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from localecs.store.outage import Outage, describe, is_conflict, is_unavailable
from localecs.store.uow import CONFLICT_ATTEMPTS, retry_on_conflict


class _DriverError(Exception):
    def __init__(self, message: str, sqlstate: str | None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def _operational(sqlstate: str | None, message: str = "boom") -> OperationalError:
    return OperationalError("SELECT 1", {}, _DriverError(message, sqlstate))


def test_deadlocks_and_serialization_failures_are_conflicts_and_others_are_not() -> None:
    assert is_conflict(_operational("40P01"))
    assert is_conflict(_operational("40001"))
    assert not is_conflict(_operational("08006"))
    assert not is_conflict(IntegrityError("INSERT", {}, _DriverError("dup", "23505")))
    assert not is_conflict(ValueError())


def test_a_conflict_is_retried_until_the_function_succeeds() -> None:
    calls = []

    @retry_on_conflict
    def admit(value: int) -> int:
        calls.append(value)
        if len(calls) < 3:
            raise _operational("40P01")
        return value * 2

    assert admit(21) == 42
    assert calls == [21, 21, 21]


def test_retries_are_bounded() -> None:
    calls = 0

    @retry_on_conflict
    def always_a_victim() -> None:
        nonlocal calls
        calls += 1
        raise _operational("40001")

    with pytest.raises(OperationalError):
        always_a_victim()
    assert calls == CONFLICT_ATTEMPTS


def test_other_errors_are_not_retried() -> None:
    calls = 0

    @retry_on_conflict
    def broken() -> None:
        nonlocal calls
        calls += 1
        raise _operational("08006")

    with pytest.raises(OperationalError):
        broken()
    assert calls == 1


def test_an_outage_is_logged_once_and_its_end_once(caplog: pytest.LogCaptureFixture) -> None:
    outage = Outage(logging.getLogger("test.outage"), "workers")
    error = _operational("08006", "connection refused\nDETAIL: more")
    with caplog.at_level(logging.INFO, logger="test.outage"):
        delays = [outage.failed(error) for _ in range(10)]
        assert outage.ongoing
        outage.succeeded()
        outage.succeeded()
    messages = [record.getMessage() for record in caplog.records]
    assert messages[0] == (
        "workers: the database is unavailable (connection refused); retrying until it is back"
    )
    assert messages[1].startswith("workers: the database is reachable again after")
    assert len(messages) == 2
    assert not outage.ongoing
    # Backing off: growing, then capped (with jitter below the cap).
    assert delays[0] < 0.25 and 2.5 <= delays[-1] <= 5.0


def test_connection_failures_count_as_unavailable() -> None:
    assert is_unavailable(_operational(None))
    assert not is_unavailable(IntegrityError("INSERT", {}, _DriverError("dup", "23505")))
    assert describe(_operational(None, "server closed the connection\nSQL: ...")) == (
        "server closed the connection"
    )
