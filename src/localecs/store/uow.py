"""The transaction boundary: every service call runs in exactly one unit of work."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from localecs.store.database import WRITE_TRANSACTION
from localecs.store.repository import Repository


class Database:
    """Hands out repositories bound to one transaction each."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # SQLite has one writer at a time. Threads of this process queue for it on a mutex, which
        # hands over at once; left to SQLite's busy handler they would sleep in growing steps.
        # (Other processes on the same file still meet at SQLite's lock and busy_timeout.)
        self._writer: AbstractContextManager[object] = (
            threading.Lock() if engine.dialect.name == "sqlite" else nullcontext()
        )
        self._reads = sessionmaker(engine, expire_on_commit=False)
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
