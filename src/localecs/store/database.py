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


# libpq settings that bound how long a dead network can hold a connection: the connect itself,
# an idle connection (keepalives), and data left unacknowledged (a cut cable). Without them a
# half-open connection waits for the kernel's TCP timeouts, which run to many minutes.
LIBPQ_TIMEOUTS: dict[str, Any] = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,  # milliseconds
}


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    if parsed.drivername == "postgresql":
        # A plain postgresql:// URL means SQLAlchemy's default driver (psycopg2); ours is
        # psycopg 3, the one installed with localecs[postgres].
        parsed = parsed.set(drivername="postgresql+psycopg")
    libpq = parsed.get_driver_name() in ("psycopg", "psycopg2")
    return create_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=pool_size,
        # Every checkout checks its connection first, so one that died with the database
        # (a restart, a terminated backend) is replaced instead of failing a request.
        pool_pre_ping=True,
        connect_args=LIBPQ_TIMEOUTS if libpq else {},
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
