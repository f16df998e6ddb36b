"""Group commit for SQLite: several writers' transactions share one COMMIT.

SQLite has one writer at a time, and each transaction pays for BEGIN IMMEDIATE, its commit (the
WAL append) and the hand-over of the writer mutex. Under load, admissions queue for that mutex one
by one. Here a caller does not open a transaction itself: it queues its work and then takes the
writer mutex. Whoever takes the mutex first (the leader) runs every queued piece of work in one
transaction, each in a SAVEPOINT of its own, commits once, and hands each caller its result. A
caller whose work a leader already ran finds the answer waiting when it gets the mutex, and leaves.

- A piece of work that raises (a refused admission) is rolled back to its savepoint alone: the
  others in the group commit, and the caller gets its own exception.
- Nobody is answered before the commit: if the COMMIT fails, every caller of the group gets that
  error (nothing of theirs was written). So "accepted" still means "committed".
- Each piece of work gets an ORM session of its own, so what one rolls back cannot leave stale
  objects in another's identity map. The session never commits or releases anything; if it rolls
  back the whole transaction (what a session does when its flush fails), the others of the group
  were not answered yet and are queued again, to run in the next transaction.

PostgreSQL has concurrent writers and row locks, so there each piece of work is an ordinary
transaction of its own (see `Database.write_grouped`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from localecs.store.repository import Repository

_Result = TypeVar("_Result")

# At most this many pieces of work share a transaction, so the mutex (which the workers queue on
# too) is never held for long: ~16 batch admissions take a few milliseconds.
MAX_GROUP = 16


class _Pending(Generic[_Result]):
    __slots__ = ("done", "error", "value", "work")

    def __init__(self, work: Callable[[Repository], _Result]) -> None:
        self.work = work
        self.done = False
        self.value: _Result | None = None
        self.error: BaseException | None = None


class GroupCommit:
    """Queues pieces of work for `engine`'s writer and runs them, grouped, under `writer`."""

    def __init__(self, engine: Engine, writer: Any) -> None:
        self._engine = engine
        self._writer = writer
        self._queue: deque[_Pending[Any]] = deque()
        # Counts transactions and the work they carried: what the tests (and a profile) check.
        self.commits = 0
        self.grouped = 0

    def queued(self) -> int:
        """How many pieces of work wait for a leader."""
        return len(self._queue)

    def run(self, work: Callable[[Repository], _Result]) -> _Result:
        pending: _Pending[_Result] = _Pending(work)
        self._queue.append(pending)  # deque appends and pops are atomic
        # Work not done is still queued: a leader marks everything it took as done before it
        # gives the mutex back. A leader takes the oldest MAX_GROUP, which may not include its
        # own: then it leads again (letting the mutex go in between, for the workers' writes).
        while not pending.done:
            with self._writer:
                if not pending.done:
                    self._lead()
        if pending.error is not None:
            raise pending.error
        return pending.value  # type: ignore[return-value]

    def _lead(self) -> None:
        group: list[_Pending[Any]] = []
        while self._queue and len(group) < MAX_GROUP:
            group.append(self._queue.popleft())
        committed = False
        try:
            with self._engine.connect() as connection, connection.begin() as transaction:
                cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
                try:
                    for pending in group:
                        _run_one(connection, transaction, cursor, pending)
                        if not transaction.is_active:
                            group = self._requeue_all_but(pending, group)
                            break
                finally:
                    cursor.close()
                committed = transaction.is_active
        except BaseException as error:
            # BEGIN or COMMIT failed: nothing of the group was written, so nobody may be told
            # otherwise; those whose own work failed keep their own error.
            for pending in group:
                if pending.error is None:
                    pending.error = error
            if not isinstance(error, Exception):
                raise
        else:
            if committed:
                self.commits += 1
                self.grouped += len(group)
        finally:
            for pending in group:
                pending.done = True

    def _requeue_all_but(
        self, failed: _Pending[Any], group: list[_Pending[Any]]
    ) -> list[_Pending[Any]]:
        """`failed`'s work rolled back the whole transaction (an ORM session rolls back what it
        joined when its flush fails), and with it the others' work. They were not answered: they
        go back to the head of the queue, to run again in another transaction. Returns what is
        answered now: `failed` (with its error), and those refused before (nothing to undo)."""
        retry = [pending for pending in group if pending is not failed and pending.error is None]
        for pending in reversed(retry):
            pending.value = None
            self._queue.appendleft(pending)
        return [pending for pending in group if pending not in retry]


_SAVEPOINT = "localecs_grouped"


def _run_one(connection: Any, transaction: Any, cursor: Any, pending: _Pending[Any]) -> None:
    """`pending`'s work in a savepoint of the group's transaction, with an ORM session of its
    own (so no other work's objects are in its identity map). The savepoint is the driver's
    statement, not the session's: a session managing it costs ~90 µs more per piece of work."""
    cursor.execute(f"SAVEPOINT {_SAVEPOINT}")
    # rollback_only: the session never commits or releases what it joined (we do), and
    # closing it leaves the transaction alone.
    session = Session(
        bind=connection, join_transaction_mode="rollback_only", expire_on_commit=False
    )
    try:
        # The repository's prebuilt statements run on the group's connection; the session
        # begins (joins) only if the work uses it.
        pending.value = pending.work(Repository(session, connection))
        session.flush()
    except Exception as error:  # noqa: BLE001  (handed to its caller, re-raised there)
        pending.value = None
        pending.error = error
    finally:
        session.close()
    if not transaction.is_active:
        return  # the session rolled everything back: the leader sees to it
    if pending.error is not None:
        cursor.execute(f"ROLLBACK TO {_SAVEPOINT}")
    cursor.execute(f"RELEASE {_SAVEPOINT}")
