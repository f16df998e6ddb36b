"""The transaction boundary: every service call runs in exactly one unit of work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from localecs.store.database import WRITE_TRANSACTION
from localecs.store.repository import Repository


class Database:
    """Hands out repositories bound to one transaction each."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
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
        with self._writes() as session, session.begin():
            session.connection()
            yield Repository(session)

    def session(self) -> Session:
        return self._reads()
