"""A real PostgreSQL deadlock: the victim's transaction is run again and both succeed."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from localecs.store.uow import Database, retry_on_conflict


def test_the_deadlock_victim_is_retried_and_both_transactions_commit(db: Database) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: its transactions cannot deadlock")
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS probe (id int PRIMARY KEY, n int)"))
        conn.execute(text("TRUNCATE probe"))
        conn.execute(text("INSERT INTO probe VALUES (1, 0), (2, 0)"))
    both_hold_one = threading.Barrier(2, timeout=30)
    attempts = {"first": 0, "second": 0}

    @retry_on_conflict
    def bump(name: str, first: int, then: int) -> None:
        attempts[name] += 1
        with db.write() as repo:
            repo.session.execute(text("UPDATE probe SET n = n + 1 WHERE id = :i"), {"i": first})
            if attempts[name] == 1:
                both_hold_one.wait()  # each holds the row the other wants next: a deadlock
            repo.session.execute(text("UPDATE probe SET n = n + 1 WHERE id = :i"), {"i": then})

    errors: list[BaseException] = []

    def run(name: str, first: int, then: int) -> None:
        try:
            bump(name, first, then)
        except BaseException as error:  # noqa: BLE001  (reported below)
            errors.append(error)

    threads = [
        threading.Thread(target=run, args=("first", 1, 2)),
        threading.Thread(target=run, args=("second", 2, 1)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(attempts.values()) == [1, 2]  # PostgreSQL aborted one; it ran again
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM probe ORDER BY id")).scalars().all() == [2, 2]
