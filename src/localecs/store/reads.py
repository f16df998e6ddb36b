"""The hot reads: the caller's credential, ShowJob and "is any fault set?", on the DB-API
connection.

They run on every request (the credential, the fault check) or on every request of a polling
client (ShowJob). Each is one indexed statement, which is its own
consistent snapshot, so it needs neither an ORM session nor a transaction. The statements are
written in SQLAlchemy and compiled once per database; rows are converted with the columns' own
result processors (the Timestamp and JSON types), so the values are those the ORM would give.
Skipping the Core execution machinery takes a lookup from ~70 µs to a few.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Engine, PoolProxiedConnection, bindparam, event, or_, select
from sqlalchemy.exc import DBAPIError

from localecs.store.compiled import CompiledStatement
from localecs.store.identity import (
    KEY_RECORD,
    PROJECT_ACCOUNT,
    TOKEN_RECORD,
    KeyRecord,
    TokenRecord,
    key_record,
    token_record,
)
from localecs.store.tables import Fault, Job

# Every signed call asks whether any fault is set (services/faults.py); almost always none is.
_ANY_FAULT = select(Fault.__table__.c.id).limit(1)

_jobs = Job.__table__.c
# A job and its sub-jobs together, with only the columns ShowJob shows.
_JOB_TREE = (
    select(
        _jobs.seq,
        _jobs.id,
        _jobs.project_id,
        _jobs.parent_id,
        _jobs.job_type,
        _jobs.status,
        _jobs.entities,
        _jobs.sub_jobs_total,
        _jobs.error_code,
        _jobs.fail_reason,
        _jobs.begin_time,
        _jobs.end_time,
    )
    .where(or_(_jobs.id == bindparam("job_id"), _jobs.parent_id == bindparam("job_id")))
    .order_by(_jobs.seq)
)


# When a job of a project ended, if it exists: what a kept ShowJob answer is checked against.
_JOB_END = select(_jobs.end_time).where(
    _jobs.id == bindparam("job_id"), _jobs.project_id == bindparam("project_id")
)


# How many connections PostgreSQL's hot reads keep open (per process), beside the pool's.
SERVER_KEPT_CONNECTIONS = 4
APPLICATION_NAME = "SET application_name = 'localecs-reads'"


class JobRow(NamedTuple):
    seq: int
    id: str
    project_id: str
    parent_id: str | None
    job_type: str
    status: str
    entities: dict[str, Any]
    sub_jobs_total: int
    error_code: str | None
    fail_reason: str | None
    begin_time: datetime
    end_time: datetime | None


def _close_all(connections: list[Any], errors: type[Exception]) -> None:
    for connection in connections:
        if hasattr(connection, "close"):  # not a place held for one being opened
            # A connection the server already ended: closing it is all there is to do.
            with contextlib.suppress(errors):
                connection.close()


class Reads:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._server = engine.dialect.name != "sqlite"
        self._dbapi_error: type[Exception] = engine.dialect.loaded_dbapi.Error
        self._job_tree = CompiledStatement(engine.dialect, _JOB_TREE)
        self._job_end = CompiledStatement(engine.dialect, _JOB_END)
        self._any_fault = CompiledStatement(engine.dialect, _ANY_FAULT)
        self._key_record = CompiledStatement(engine.dialect, KEY_RECORD)
        self._token_record = CompiledStatement(engine.dialect, TOKEN_RECORD)
        self._project_account = CompiledStatement(engine.dialect, PROJECT_ACCOUNT)
        self._local = threading.local()
        self._kept: list[Any] = []
        self._kept_guard = threading.Lock()
        # PostgreSQL: idle kept connections, taken and given back by whichever thread reads.
        self._idle: list[Any] = []
        self._generation = 0
        # Kept connections are detached from the pool, so its dispose does not close them:
        # they close with the engine, or when these reads are dropped (the driver would
        # otherwise warn, collecting an open connection).
        closing = weakref.WeakMethod(self.close)

        def on_dispose(_engine: Engine) -> None:
            close = closing()
            if close is not None:
                close()

        event.listen(engine, "engine_disposed", on_dispose)
        weakref.finalize(self, _close_all, self._kept, self._dbapi_error)

    def key_record(self, access_key: str) -> KeyRecord | None:
        """An access key with its user: what checking a signature needs."""
        rows = self._fetch(self._key_record, {"access_key": access_key})
        return key_record(rows[0]) if rows else None

    def token_record(self, digest: str) -> TokenRecord | None:
        """A token (by the hash of its text) with its user."""
        rows = self._fetch(self._token_record, {"digest": digest})
        return token_record(rows[0]) if rows else None

    def project_account(self, project_id: str) -> str | None:
        rows = self._fetch(self._project_account, {"project_id": project_id})
        return str(rows[0][0]) if rows else None

    def any_fault(self) -> bool:
        """Whether any fault is set."""
        return bool(self._fetch(self._any_fault, {}))

    def job_tree(self, job_id: str) -> list[JobRow]:
        """The job's row and its sub-jobs' rows, in submission order."""
        return [JobRow(*row) for row in self._fetch(self._job_tree, {"job_id": job_id})]

    def job_end(self, project_id: str, job_id: str) -> datetime | None:
        """When the project's job ended; None if it has not, or if there is no such job."""
        rows = self._fetch(self._job_end, {"job_id": job_id, "project_id": project_id})
        return rows[0][0] if rows else None

    def close(self) -> None:
        """Closes the connections the reads keep (see _kept_connection, _fetch_server)."""
        with self._kept_guard:
            kept = list(self._kept)
            self._kept.clear()
            self._idle.clear()
            # Every thread's kept SQLite connection is now closed: each opens another.
            self._generation += 1
        _close_all(kept, self._dbapi_error)

    def _fetch(
        self, statement: CompiledStatement, values: Mapping[str, Any]
    ) -> list[Sequence[Any]]:
        parameters = statement.parameters(values)
        if self._server:
            rows = self._fetch_server(statement, parameters)
        else:
            rows = self._fetch_kept(statement, parameters)
        return [statement.convert(row) for row in rows]

    def _fetch_kept(self, statement: CompiledStatement, parameters: Any) -> list[Any]:
        connection = self._kept_connection()
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(statement.sql, parameters)
                # fetchall: a half-read SQLite statement would keep its snapshot open.
                return list(cursor.fetchall())
            finally:
                cursor.close()
        except self._dbapi_error as error:
            # Not trusted again: the next read on this thread opens a new connection.
            self._forget(connection)
            raise DBAPIError.instance(
                statement.sql, parameters, error, self._dbapi_error
            ) from error

    def _kept_connection(self) -> Any:
        """This thread's own SQLite connection, kept for its hot reads.

        A pool checkout and check-in (with its reset) cost more than the read itself. The
        connection is in driver autocommit (database.py), so each statement is a transaction of
        its own and no snapshot outlives it. Taken from the engine's pool once (so it is set up
        by the same connect hook, with the same pragmas), then detached from it.
        """
        connection = getattr(self._local, "connection", None)
        if connection is None or self._local.generation != self._generation:
            fairy = self._checkout()
            fairy.detach()
            connection = self._local.connection = fairy.dbapi_connection
            with self._kept_guard:
                self._local.generation = self._generation
                self._kept.append(connection)
        return connection

    def _forget(self, connection: Any) -> None:
        self._local.connection = None
        with self._kept_guard:
            if connection in self._kept:
                self._kept.remove(connection)
        connection.close()

    def _fetch_server(self, statement: CompiledStatement, parameters: Any) -> list[Any]:
        """On a kept connection of the few PostgreSQL keeps for these reads, else on a pooled one.

        A pooled checkout pings the server first, so that a connection that died with it is
        replaced: a round trip as long as the read's own, on every read (three a ShowJob). A kept
        connection is not pinged: when it turns out dead, it is closed and the read, which
        changes nothing, is made again once on a pooled (pinged) connection. Kept connections
        are few and detached from the pool, so threads beyond them share the pool as before.
        """
        connection = self._take_idle()
        if connection is None:
            return self._fetch_pooled(statement, parameters)
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(statement.sql, parameters)
                rows = list(cursor.fetchall())
            finally:
                cursor.close()
        except self._dbapi_error:
            self._discard(connection)
            return self._fetch_pooled(statement, parameters)
        with self._kept_guard:
            if connection in self._kept:  # not closed by close() meanwhile
                self._idle.append(connection)
                return rows
        connection.close()
        return rows

    def _take_idle(self) -> Any | None:
        """An idle kept connection, or a new one if fewer than SERVER_KEPT_CONNECTIONS are kept;
        None when there is none to have (the caller reads on a pooled connection, whose errors
        are the ones to report)."""
        with self._kept_guard:
            if self._idle:
                return self._idle.pop()
            if len(self._kept) >= SERVER_KEPT_CONNECTIONS:
                return None
            # Counted now, opened below (outside the guard): a connect takes milliseconds.
            self._kept.append(opening := object())
        connection = self._open_kept()
        with self._kept_guard:
            if opening in self._kept:
                if connection is not None:
                    self._kept[self._kept.index(opening)] = connection
                    return connection
                self._kept.remove(opening)
                return None
        # close() ran meanwhile: this one is not to be kept either.
        _close_all([connection] if connection is not None else [], self._dbapi_error)
        return None

    def _open_kept(self) -> Any | None:
        try:
            fairy = self._checkout()
        except DBAPIError:
            return None
        fairy.detach()
        connection = fairy.dbapi_connection
        try:
            connection.autocommit = True  # type: ignore[union-attr]
            # So that operators can tell them apart in pg_stat_activity (docs/deployment.md).
            connection.execute(APPLICATION_NAME)  # type: ignore[union-attr]
        except self._dbapi_error:
            _close_all([connection], self._dbapi_error)
            return None
        return connection

    def _discard(self, connection: Any) -> None:
        with self._kept_guard:
            if connection in self._kept:
                self._kept.remove(connection)
        # Already broken: closing it is all that is left to do.
        with contextlib.suppress(self._dbapi_error):
            connection.close()

    def _fetch_pooled(self, statement: CompiledStatement, parameters: Any) -> list[Any]:
        connection = self._checkout()
        driver = connection.driver_connection
        # Autocommit for the one statement: no BEGIN/ROLLBACK round trips around it.
        driver.autocommit = True  # type: ignore[union-attr]
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(statement.sql, parameters)
                return list(cursor.fetchall())
            except self._dbapi_error as error:
                # As SQLAlchemy would: a dead connection leaves the pool, and callers see the
                # same DBAPIError family as from any other statement.
                connection.invalidate(error)
                raise DBAPIError.instance(
                    statement.sql, parameters, error, self._dbapi_error
                ) from error
            finally:
                cursor.close()
        finally:
            # Never back to the pool in autocommit: the next user expects transactions.
            if connection.is_valid:
                driver.autocommit = False  # type: ignore[union-attr]
            connection.close()

    def _checkout(self) -> PoolProxiedConnection:
        try:
            return self._engine.raw_connection()
        except self._dbapi_error as error:
            # raw_connection() leaves a failed connect unwrapped; callers (the API's 503 handler,
            # the workers' outage backoff) expect SQLAlchemy's DBAPIError family, as from any
            # other checkout.
            raise DBAPIError.instance(None, None, error, self._dbapi_error) from error
