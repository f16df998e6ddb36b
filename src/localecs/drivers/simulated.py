"""A simulated data plane with its own view of which disk is on which server.

It keeps that view in tables of its own (``sim_*``), apart from the control plane's records, so
that tests and operators can check the two agree; being in the database, the view survives
restarts and is shared by every worker process. Each operation takes ``latency`` seconds, so
that RUNNING jobs and ``detaching`` disks are observable.

Inside a worker's batch (``batch()``, see drivers/base.py) the writes of its operations are kept
in memory and written together in one transaction when the worker flushes the batch, before it
records the outcomes: with an instant data plane, a transaction per step was most of a batch
job's cost on SQLite, where each one waits for the single writer. Every write is idempotent (an
insert that ignores a row already there, a delete), so a flush may be repeated after it failed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, Executable, String, bindparam, delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, mapped_column

from localecs.drivers.base import DriverError
from localecs.store.database import WRITE_TRANSACTION, writer_lock
from localecs.store.tables import Base


class SimVolume(Base):
    __tablename__ = "sim_volumes"

    volume_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class SimAttachment(Base):
    __tablename__ = "sim_attachments"

    server_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    volume_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    device: Mapped[str] = mapped_column(String(64))


class SimPower(Base):
    __tablename__ = "sim_power"

    server_id: Mapped[str] = mapped_column(String(64), primary_key=True)


# One write of an operation: a statement and its parameters.
_Write = tuple[Executable, Mapping[str, Any]]


def _insert_ignoring(dialect: str, model: type[Base]) -> Executable:
    """An INSERT that leaves a row already there alone: idempotent in one statement. (Two tasks
    attaching one shared disk to two servers at once could both find no sim_volumes row and
    both insert it; the loser failed on the primary key, and its task waited out its lease.)"""
    if dialect == "postgresql":
        return postgresql_insert(model).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite_insert(model).on_conflict_do_nothing()
    raise ValueError(f"the simulated driver keeps its view in SQLite or PostgreSQL, not {dialect}")


_DETACH = delete(SimAttachment).where(
    SimAttachment.server_id == bindparam("server_id"),
    SimAttachment.volume_id == bindparam("volume_id"),
)
_POWER_OFF = delete(SimPower).where(SimPower.server_id == bindparam("server_id"))


class SimulatedBatch:
    """The writes of the operations a worker thread called inside ``SimulatedDriver.batch``."""

    def __init__(self, driver: SimulatedDriver) -> None:
        self._driver = driver
        self.pending: list[_Write] = []

    def flush(self) -> None:
        """Writes what is pending in one transaction. If it raises, nothing of it was written
        and it stays pending: calling flush again repeats it."""
        if self.pending:
            self._driver._commit(self.pending)
            self.pending.clear()


class SimulatedDriver:
    def __init__(self, engine: Engine, latency: float | Callable[[], float] = 0.3) -> None:
        """`latency`: seconds per step, or a function giving them (the latency profile's)."""
        self._engine = engine.execution_options(**WRITE_TRANSACTION)
        # The same queue as the control plane's writers (store.database.writer_lock).
        self._writer = writer_lock(engine)
        self.latency = latency
        self._batches = threading.local()
        dialect = engine.dialect.name
        self._add_volume = _insert_ignoring(dialect, SimVolume)
        self._add_attachment = _insert_ignoring(dialect, SimAttachment)
        self._power_on = _insert_ignoring(dialect, SimPower)

    @contextmanager
    def batch(self) -> Iterator[SimulatedBatch]:
        """Until the block ends, this thread's operations only note their writes; `flush()`
        writes them. Whatever is not flushed when the block ends never happened."""
        if self._current() is not None:
            raise RuntimeError("a batch is already open on this thread")
        batch = SimulatedBatch(self)
        self._batches.current = batch
        try:
            yield batch
        finally:
            self._batches.current = None

    def create_volume(self, volume_id: str, size_gb: int) -> None:
        self._wait()
        self._write([(self._add_volume, {"volume_id": volume_id})])

    def delete_volume(self, volume_id: str) -> None:
        self._wait()
        self._flush_batch()  # the check below must see this thread's earlier steps
        with self._writer, self._engine.begin() as conn:
            holder = conn.scalar(select(SimAttachment.server_id).filter_by(volume_id=volume_id))
            if holder is not None:
                raise DriverError("EVS.1046", f"Volume {volume_id} is still attached to {holder}.")
            conn.execute(delete(SimVolume).filter_by(volume_id=volume_id))

    def attach_volume(self, server_id: str, volume_id: str, device: str) -> None:
        self._wait()
        attachment = {"server_id": server_id, "volume_id": volume_id, "device": device}
        self._write(
            [(self._add_volume, {"volume_id": volume_id}), (self._add_attachment, attachment)]
        )

    def detach_volume(self, server_id: str, volume_id: str) -> None:
        self._wait()
        self._write([(_DETACH, {"server_id": server_id, "volume_id": volume_id})])

    def power_on(self, server_id: str) -> None:
        self._wait()
        self._write([(self._power_on, {"server_id": server_id})])

    def power_off(self, server_id: str) -> None:
        self._wait()
        self._write([(_POWER_OFF, {"server_id": server_id})])

    def attached_volumes(self, server_id: str) -> dict[str, str]:
        self._flush_batch()
        with self._engine.connect() as conn:
            rows = conn.execute(select(SimAttachment).filter_by(server_id=server_id))
            return {row.volume_id: row.device for row in rows}

    def is_powered(self, server_id: str) -> bool:
        self._flush_batch()
        with self._engine.connect() as conn:
            found = conn.scalar(select(SimPower.server_id).filter_by(server_id=server_id))
            return found is not None

    def _current(self) -> SimulatedBatch | None:
        batch: SimulatedBatch | None = getattr(self._batches, "current", None)
        return batch

    def _write(self, writes: list[_Write]) -> None:
        batch = self._current()
        if batch is not None:
            batch.pending.extend(writes)
        else:
            self._commit(writes)

    def _flush_batch(self) -> None:
        batch = self._current()
        if batch is not None:
            batch.flush()

    def _commit(self, writes: Sequence[_Write]) -> None:
        """The writes in order, in one transaction; a run of one statement as one executemany."""
        with self._writer, self._engine.begin() as conn:
            start = 0
            while start < len(writes):
                statement = writes[start][0]
                end = start + 1
                while end < len(writes) and writes[end][0] is statement:
                    end += 1
                conn.execute(statement, [dict(params) for _, params in writes[start:end]])
                start = end

    def _wait(self) -> None:
        seconds = self.latency() if callable(self.latency) else self.latency
        if seconds > 0:
            time.sleep(seconds)
