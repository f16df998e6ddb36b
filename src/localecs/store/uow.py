"""The transaction boundary: every service call runs in exactly one unit of work."""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from localecs.store.database import WRITE_TRANSACTION, writer_lock
from localecs.store.group_commit import GroupCommit
from localecs.store.outage import is_conflict
from localecs.store.reads import Reads
from localecs.store.repository import Repository

log = logging.getLogger("localecs.store")


class Database:
    """Hands out repositories bound to one transaction each."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = writer_lock(engine)
        self._reads = sessionmaker(engine, expire_on_commit=False)
        self.hot_reads = Reads(engine)
        # SQLite answers an indexed read in microseconds, less than handing it to a thread
        # costs: such reads run where the request is (the event loop). A server database is a
        # network round trip away, so its reads stay on threads.
        self.inline_reads = engine.dialect.name == "sqlite"
        writes = engine.execution_options(**WRITE_TRANSACTION)
        self._writes = sessionmaker(writes, expire_on_commit=False)
        # One writer at a time (SQLite): concurrent admissions share transactions and commits.
        self.group_commit = (
            GroupCommit(writes, self._writer) if engine.dialect.name == "sqlite" else None
        )

    @contextmanager
    def read(self) -> Iterator[Repository]:
        with self._reads() as session:
            yield Repository(session)

    @contextmanager
    def write(self) -> Iterator[Repository]:
        """A transaction that commits when the block ends and rolls back if it raises.

        It begins (and on SQLite takes the write lock) on entry, so that a timestamp taken inside
        the block is never earlier than the moment this transaction could act.
        """
        with self._writer, self._writes() as session, session.begin():
            session.connection()
            yield Repository(session)

    def write_grouped(self, work: Callable[[Repository], _Result]) -> _Result:
        """`work` in a write transaction, as `write` would run it, but on SQLite possibly sharing
        that transaction and its commit with other callers' work (store/group_commit.py): it runs
        in a savepoint of its own, so what it raises rolls back only its own changes. It returns
        (or raises) only after the commit."""
        if self.group_commit is None:
            with self.write() as repo:
                return work(repo)
        return self.group_commit.run(work)

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A plain connection for a read of a few values (store.repository's functions that take
        one): no ORM session, no objects."""
        with self.engine.connect() as connection:
            yield connection

    def session(self) -> Session:
        return self._reads()

    def close(self) -> None:
        """Closes the connections kept outside the engine's pool (dispose the engine too)."""
        self.hot_reads.close()


CONFLICT_ATTEMPTS = 5

_Result = TypeVar("_Result")
_Params = ParamSpec("_Params")


def retry_on_conflict(
    function: Callable[_Params, _Result],
) -> Callable[_Params, _Result]:
    """Runs `function` again (a bounded number of times) when its transaction was aborted as a
    deadlock victim or a serialization failure. The function must own its transactions: each
    attempt starts from scratch and sees the database afresh, so its checks are re-run too."""

    @functools.wraps(function)
    def retrying(*args: _Params.args, **kwargs: _Params.kwargs) -> _Result:
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                return function(*args, **kwargs)
            except DBAPIError as error:
                if not is_conflict(error) or attempt == CONFLICT_ATTEMPTS:
                    raise
                log.info(
                    "%s: transaction conflict (%s), attempt %d",
                    function.__name__,
                    getattr(error.orig, "sqlstate", "?"),
                    attempt,
                )
                # A little jitter, so that the two victims of one deadlock do not meet again.
                time.sleep(random.uniform(0, 0.01 * 2.0**attempt))
        raise AssertionError("unreachable")

    return retrying
