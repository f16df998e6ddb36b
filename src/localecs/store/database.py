"""Engine construction: SQLite (the embedded default) or PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

# Execution option that makes a SQLite transaction take the write lock at BEGIN. Taking it
# late (on the first write) lets two readers-turned-writers deadlock and fail with "database is
# locked"; taking it early makes writers queue on busy_timeout instead.
WRITE_TRANSACTION = {"localecs_write": True}


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'localecs.db'}"


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    if make_url(url).get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    return create_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, future=True
    )


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(url, pool_size=16, max_overflow=16)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver level so that BEGIN is ours to issue (see _begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        write = connection.get_execution_options().get("localecs_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine
