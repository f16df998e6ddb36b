"""A simulated data plane with its own view of which disk is on which server.

It keeps that view in tables of its own (``sim_*``), apart from the control plane's records, so
that tests and operators can check the two agree; being in the database, the view survives
restarts and is shared by every worker process. Each operation takes ``latency`` seconds, so
that RUNNING jobs and ``detaching`` disks are observable.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Connection, Engine, String, delete, insert, select
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


class SimulatedDriver:
    def __init__(self, engine: Engine, latency: float | Callable[[], float] = 0.3) -> None:
        """`latency`: seconds per step, or a function giving them (the latency profile's)."""
        self._engine = engine.execution_options(**WRITE_TRANSACTION)
        # The same queue as the control plane's writers (store.database.writer_lock).
        self._writer = writer_lock(engine)
        self.latency = latency

    def create_volume(self, volume_id: str, size_gb: int) -> None:
        self._wait()
        with self._writer, self._engine.begin() as conn:
            self._ensure_volume(conn, volume_id)

    def _ensure_volume(self, conn: Connection, volume_id: str) -> None:
        """The disk's row, added unless it is there. Two tasks may attach one shared disk to
        two servers at once: on PostgreSQL both could see no row and both insert, and the loser
        failed on the primary key (its task then waited out its lease). ON CONFLICT DO NOTHING
        makes the insert itself idempotent."""
        dialect = conn.dialect.name
        if dialect in ("postgresql", "sqlite"):
            dialect_insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
            conn.execute(
                dialect_insert(SimVolume).values(volume_id=volume_id).on_conflict_do_nothing()
            )
        elif conn.scalar(select(SimVolume.volume_id).filter_by(volume_id=volume_id)) is None:
            conn.execute(insert(SimVolume).values(volume_id=volume_id))

    def delete_volume(self, volume_id: str) -> None:
        self._wait()
        with self._writer, self._engine.begin() as conn:
            holder = conn.scalar(select(SimAttachment.server_id).filter_by(volume_id=volume_id))
            if holder is not None:
                raise DriverError("EVS.1046", f"Volume {volume_id} is still attached to {holder}.")
            conn.execute(delete(SimVolume).filter_by(volume_id=volume_id))

    def attach_volume(self, server_id: str, volume_id: str, device: str) -> None:
        self._wait()
        with self._writer, self._engine.begin() as conn:
            self._ensure_volume(conn, volume_id)
            current = conn.scalar(
                select(SimAttachment.device).filter_by(server_id=server_id, volume_id=volume_id)
            )
            if current is None:
                conn.execute(
                    insert(SimAttachment).values(
                        server_id=server_id, volume_id=volume_id, device=device
                    )
                )

    def detach_volume(self, server_id: str, volume_id: str) -> None:
        self._wait()
        with self._writer, self._engine.begin() as conn:
            conn.execute(delete(SimAttachment).filter_by(server_id=server_id, volume_id=volume_id))

    def power_on(self, server_id: str) -> None:
        self._wait()
        with self._writer, self._engine.begin() as conn:
            if conn.scalar(select(SimPower.server_id).filter_by(server_id=server_id)) is None:
                conn.execute(insert(SimPower).values(server_id=server_id))

    def power_off(self, server_id: str) -> None:
        self._wait()
        with self._writer, self._engine.begin() as conn:
            conn.execute(delete(SimPower).filter_by(server_id=server_id))

    def attached_volumes(self, server_id: str) -> dict[str, str]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(SimAttachment).filter_by(server_id=server_id))
            return {row.volume_id: row.device for row in rows}

    def is_powered(self, server_id: str) -> bool:
        with self._engine.connect() as conn:
            found = conn.scalar(select(SimPower.server_id).filter_by(server_id=server_id))
            return found is not None

    def _wait(self) -> None:
        seconds = self.latency() if callable(self.latency) else self.latency
        if seconds > 0:
            time.sleep(seconds)
