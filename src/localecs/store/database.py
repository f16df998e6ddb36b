"""Engine construction: SQLite (the embedded default) or PostgreSQL."""

from __future__ import annotations

import threading
import weakref
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

# Execution option that makes a SQLite transaction take the write lock at BEGIN. Taking it
# late (on the first write) lets two readers-turned-writers deadlock and fail with "database is
# locked"; taking it early makes writers queue on busy_timeout instead.
WRITE_TRANSACTION = {"localecs_write": True}
WAL_CHECKPOINT_PAGES = 10_000
WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024


_writer_locks: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_writer_locks_guard = threading.Lock()


def writer_lock(engine: Engine) -> AbstractContextManager[object]:
    """What writers on `engine` in this process queue on before they BEGIN.

    SQLite has one writer at a time. Threads of this process (API, workers, the simulated
    driver) queue for it on one mutex, which hands over at once; left to SQLite's busy handler
    they would sleep in growing steps (1, 2, 5, 10 ... 100 ms). Other processes on the same file
    still meet at SQLite's lock and busy_timeout. PostgreSQL needs no such queue.
    """
    if engine.dialect.name != "sqlite":
        return nullcontext()
    with _writer_locks_guard:
        lock = _writer_locks.get(engine)
        if lock is None:
            lock = _writer_locks[engine] = threading.Lock()
        return lock


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'localecs.db'}"


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


# JSON columns (entities, payloads, tags) are read on every ShowJob and listing: orjson.
_JSON = {"json_serializer": _json_text, "json_deserializer": orjson.loads}

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
        **_JSON,
    )


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(url, pool_size=16, max_overflow=16, **_JSON)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver level so that BEGIN is ours to issue (see _begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Checkpoint every ~40 MB of WAL rather than every 4 MB: a checkpoint writes and syncs the
        # database file inside whichever commit triggers it, and pages rewritten by every
        # admission (job indexes, disk rows) are then copied once per checkpoint, not ten times.
        # Measured: a sequential batch admission's wall time fell by a third (bench/README.md).
        cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
        cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT_BYTES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        write = connection.get_execution_options().get("localecs_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine
