"""Waking workers in other processes when work is submitted: PostgreSQL LISTEN/NOTIFY.

Admission calls `announce_work` inside its transaction. On PostgreSQL that queues a NOTIFY,
which the server delivers only when (and if) the transaction commits, so a worker is never
woken for a job that was rolled back, nor before its rows are visible. Each worker process keeps
one `WorkListener`: a dedicated connection that LISTENs and wakes the process's pool. On SQLite
(one process holds the workers) the in-process wake-up is all there is, and nothing is sent.

A notification can be lost (the listener's connection drops; the listener is reconnecting), so
workers still poll slowly: LISTEN makes pick-up fast, never correct.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, text

from localecs.store.database import LIBPQ_TIMEOUTS
from localecs.store.outage import Outage
from localecs.store.repository import Repository

CHANNEL = "localecs_work"
# How the listeners' connections show in pg_stat_activity.
LISTENER_NAME = "localecs-listener"

log = logging.getLogger("localecs.notify")

# How often the listener looks up from its connection to see whether it should stop.
_TICK_SECONDS = 1.0


def announce_work(repo: Repository) -> None:
    """Wakes listening workers when the caller's transaction commits (PostgreSQL only)."""
    if repo.session.get_bind().dialect.name == "postgresql":
        repo.session.execute(text(f"NOTIFY {CHANNEL}"))


def listens(engine: Engine) -> bool:
    """Whether workers on this engine can be woken by NOTIFY (PostgreSQL through psycopg 3)."""
    return engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg"


class WorkListener:
    """A thread holding one LISTEN connection; calls `wake` for each notification, and once after
    every (re)connection, since notifications sent while it was away are lost."""

    def __init__(self, engine: Engine, wake: Callable[[], None]) -> None:
        self._engine = engine
        self._wake = wake
        self._stopping = threading.Event()
        self._outage = Outage(log, "work listener")
        self._thread = threading.Thread(target=self._run, name="localecs-listener", daemon=True)
        self.connected = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self._stopping.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._listen()
            except Exception as error:  # noqa: BLE001  (any failure: reconnect, never die)
                self.connected.clear()
                if self._stopping.is_set():
                    return
                self._stopping.wait(self._outage.failed(error))

    def _listen(self) -> None:
        with self._connect() as connection:
            connection.execute(f"LISTEN {CHANNEL}")
            self.connected.set()
            self._outage.succeeded()
            self._wake()
            while not self._stopping.is_set():
                # The generator returns after the timeout; a dead connection raises.
                for _ in connection.notifies(timeout=_TICK_SECONDS):
                    self._wake()
                # Silence may also mean the connection died without a word (a cut network):
                # a round trip finds out.
                connection.execute("SELECT 1")

    def _connect(self) -> Any:
        import psycopg  # only PostgreSQL deployments need the driver

        args, params = self._engine.dialect.create_connect_args(self._engine.url)
        return psycopg.connect(
            *args,
            **{**LIBPQ_TIMEOUTS, **params, "autocommit": True, "application_name": LISTENER_NAME},
        )
