"""LISTEN/NOTIFY on a real PostgreSQL: a submitted job wakes listeners when, and only when, its
transaction commits; a listener whose connection is killed reconnects by itself."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from localecs.domain.jobs import JobType
from localecs.services.jobs import Task, submit_single
from localecs.store.notify import LISTENER_NAME, WorkListener, announce_work, listens
from localecs.store.uow import Database
from tests.integration.test_job_queue import PROJECT, T0


class Wakes:
    def __init__(self) -> None:
        self.count = 0
        self._changed = threading.Condition()

    def __call__(self) -> None:
        with self._changed:
            self.count += 1
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float = 20) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: self.count >= count, timeout), self.count


@pytest.fixture
def listening(db: Database) -> Iterator[tuple[WorkListener, Wakes]]:
    if not listens(db.engine):
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; SQLite workers are woken in-process")
    wakes = Wakes()
    listener = WorkListener(db.engine, wakes)
    listener.start()
    wakes.wait_for(1)  # one wake-up on connecting, for what was submitted meanwhile
    yield listener, wakes
    listener.stop(timeout=10)


def _submit(db: Database) -> str:
    with db.write() as repo:
        return submit_single(repo, T0, PROJECT, Task(JobType.CREATE_VOLUME, volume_id="v"))


def test_a_committed_submission_wakes_the_listener(
    db: Database, listening: tuple[WorkListener, Wakes]
) -> None:
    _, wakes = listening
    before = wakes.count
    _submit(db)
    wakes.wait_for(before + 1)


def test_a_rolled_back_submission_wakes_nobody(
    db: Database, listening: tuple[WorkListener, Wakes]
) -> None:
    _, wakes = listening
    before = wakes.count

    class Abandon(Exception):
        pass

    with pytest.raises(Abandon), db.write() as repo:
        submit_single(repo, T0, PROJECT, Task(JobType.CREATE_VOLUME, volume_id="v"))
        raise Abandon
    # A committed submission after it is delivered; the rolled-back one, had it been sent,
    # would have arrived first (notifications are delivered in commit order).
    _submit(db)
    wakes.wait_for(before + 1)
    time.sleep(0.2)
    assert wakes.count == before + 1


def test_the_listener_reconnects_after_its_connection_is_killed(
    db: Database, listening: tuple[WorkListener, Wakes]
) -> None:
    listener, wakes = listening
    before = wakes.count
    with db.engine.connect() as conn:
        killed = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = :name"
            ),
            {"name": LISTENER_NAME},
        ).scalar()
        conn.commit()
    assert killed == 1
    wakes.wait_for(before + 1)  # the wake-up on reconnecting
    assert listener.connected.wait(20)
    _submit(db)
    wakes.wait_for(before + 2)


def test_announcing_on_sqlite_sends_nothing_and_changes_nothing(db: Database) -> None:
    if listens(db.engine):
        pytest.skip("SQLite only")
    with db.write() as repo:
        announce_work(repo)  # no NOTIFY on SQLite; must not fail the transaction
