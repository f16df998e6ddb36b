"""Database failures that are not the caller's fault: outages and transaction conflicts.

While PostgreSQL restarts (or the network to it is cut), every query fails. Processes must not
crash or spin: they log one clear error when the database becomes unreachable, wait with a
capped exponential backoff, and log one line when it answers again.
"""

from __future__ import annotations

import logging
import random
import threading
import time

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

# PostgreSQL's "deadlock detected" and "could not serialize access": the transaction was
# rolled back through no fault of its own and can simply run again.
CONFLICT_SQLSTATES = frozenset({"40P01", "40001"})

MAX_BACKOFF_SECONDS = 5.0
FIRST_BACKOFF_SECONDS = 0.2


def is_unavailable(error: BaseException) -> bool:
    """The database could not be reached or dropped the connection (as opposed to refusing a
    statement, which is a bug or a constraint and must not be retried blindly)."""
    if isinstance(error, OperationalError | InterfaceError):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def is_conflict(error: BaseException) -> bool:
    """A deadlock or serialization failure that the database resolved by aborting us."""
    if not isinstance(error, DBAPIError):
        return False
    return getattr(error.orig, "sqlstate", None) in CONFLICT_SQLSTATES


def describe(error: BaseException) -> str:
    """The driver's own first line ("connection refused", "terminating connection ..."),
    without the SQL statement and parameters SQLAlchemy appends."""
    cause = error.orig if isinstance(error, DBAPIError) else error
    text = str(cause).strip().splitlines()
    return text[0] if text else type(cause).__name__


class Outage:
    """One per process part (the workers, the listener): shared by its threads."""

    def __init__(self, log: logging.Logger, what: str) -> None:
        self._log = log
        self._what = what
        self._lock = threading.Lock()
        self._since: float | None = None
        self._failures = 0

    @property
    def ongoing(self) -> bool:
        return self._since is not None

    def failed(self, error: BaseException) -> float:
        """Records a failure; returns how long to wait before the next attempt."""
        with self._lock:
            if self._since is None:
                self._since = time.monotonic()
                self._log.error(
                    "%s: the database is unavailable (%s); retrying until it is back",
                    self._what,
                    describe(error),
                )
            self._failures += 1
            delay = min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2.0 ** (self._failures - 1))
        # Jitter, so that the processes of a deployment do not all knock at the same instant.
        return delay * random.uniform(0.5, 1.0)

    def succeeded(self) -> None:
        if self._since is None:
            return
        with self._lock:
            if self._since is None:
                return
            down = time.monotonic() - self._since
            self._since = None
            self._failures = 0
        self._log.warning("%s: the database is reachable again after %.1fs", self._what, down)


def wait_until_reachable(engine: Engine, log: logging.Logger, what: str) -> None:
    """Returns once the database answers. A process started with its database (a deployment
    coming up, PostgreSQL restarting) waits for it, rather than exiting and being restarted in a
    loop by its supervisor."""
    if engine.dialect.name == "sqlite":
        return  # a file: if it cannot be opened, waiting will not help
    outage = Outage(log, what)
    while True:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except (OperationalError, InterfaceError) as error:
            if _misconfigured(error):
                raise
            time.sleep(outage.failed(error))
            continue
        outage.succeeded()
        return


# What libpq reports when the server refuses the URL itself rather than being away. A refused
# connection carries no SQLSTATE, so its message is all there is to go by.
_MISCONFIGURED = ("password authentication failed", "does not exist", "no pg_hba.conf entry")


def _misconfigured(error: DBAPIError) -> bool:
    """The URL is wrong (credentials, database name): no amount of waiting fixes that."""
    sqlstate = getattr(error.orig, "sqlstate", None) or ""
    return sqlstate.startswith(("28", "3D")) or any(m in str(error.orig) for m in _MISCONFIGURED)
