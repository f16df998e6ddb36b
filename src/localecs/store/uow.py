"""The transaction boundary: every service call runs in exactly one unit of work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from localecs.store.database import WRITE_TRANSACTION, writer_lock
from localecs.store.reads import Reads
from localecs.store.repository import Repository


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
        self._writes = sessionmaker(
            engine.execution_options(**WRITE_TRANSACTION), expire_on_commit=False
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

    def session(self) -> Session:
        return self._reads()
