"""Batch attach/detach admission's statements, on the DB-API connection of the caller's transaction.

A batch admission reads a disk, its attachments and up to 16 servers, re-marks or inserts up to
16 attachment rows, sets the disk's status and inserts 17 job rows. Through the ORM that was ~4 ms
of CPU inside SQLite's single-writer section (objects, identity map, flush, statement
compilation); these are the same statements, written in SQLAlchemy and compiled once per
database, run on the transaction's DB-API connection with values converted by the columns' own
bind and result processors (the Timestamp, JSON and Boolean types), so the rows are those the ORM
would have written. Locks are as in `store/repository.py`: the disk first, then the servers in id
order (FOR UPDATE on PostgreSQL; SQLite's transaction already holds the database's write lock).
"""

from __future__ import annotations

import weakref
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from itertools import chain
from typing import Any, NamedTuple, cast

from sqlalchemy import Connection, Dialect, Table, bindparam, insert, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.expression import ClauseElement

from localecs.store.compiled import CompiledStatement
from localecs.store.tables import Attachment, Job, Server, Timestamp, Volume

_volumes: Table = Volume.__table__  # type: ignore[assignment]
_servers: Table = Server.__table__  # type: ignore[assignment]
_attachments: Table = Attachment.__table__  # type: ignore[assignment]
_jobs: Table = Job.__table__  # type: ignore[assignment]


class VolumeRow(NamedTuple):
    id: str
    status: str
    multiattach: bool
    availability_zone: str


class ServerRow(NamedTuple):
    id: str
    status: str
    task_state: str | None
    locked: bool
    availability_zone: str


class AttachmentRow(NamedTuple):
    server_id: str
    state: str
    boot_index: int | None
    device: str


def _ids(count: int) -> list[Any]:
    return [bindparam(f"id{i}") for i in range(count)]


_VOLUME = (
    select(_volumes.c.id, _volumes.c.status, _volumes.c.multiattach, _volumes.c.availability_zone)
    .where(
        _volumes.c.id == bindparam("volume_id"),
        _volumes.c.project_id == bindparam("project_id"),
    )
    .with_for_update()
)
_ATTACHMENTS_OF_VOLUME = select(
    _attachments.c.server_id,
    _attachments.c.state,
    _attachments.c.boot_index,
    _attachments.c.device,
).where(_attachments.c.volume_id == bindparam("volume_id"))
_SET_VOLUME_STATUS = (
    update(_volumes)
    .where(_volumes.c.id == bindparam("volume_id"))
    .values(status=bindparam("new_status"), updated_at=bindparam("now", type_=Timestamp()))
)
_INSERT_ATTACHMENTS = insert(_attachments)
_ATTACHMENT_COLUMNS = [c.name for c in _attachments.c]
# inline: no RETURNING of seq (PostgreSQL would add one), nothing reads it back.
_INSERT_JOBS = insert(_jobs).inline()
# seq is the database's to number (submission order).
_JOB_COLUMNS = [c.name for c in _jobs.c if c.name != "seq"]


def _servers_statement(count: int) -> ClauseElement:
    return (
        select(
            _servers.c.id,
            _servers.c.status,
            _servers.c.task_state,
            _servers.c.locked,
            _servers.c.availability_zone,
        )
        .where(_servers.c.project_id == bindparam("project_id"), _servers.c.id.in_(_ids(count)))
        .order_by(_servers.c.id)
        .with_for_update()
    )


def _devices_statement(count: int) -> ClauseElement:
    return select(_attachments.c.server_id, _attachments.c.device).where(
        _attachments.c.server_id.in_(_ids(count))
    )


def _mark_statement(count: int) -> ClauseElement:
    return (
        update(_attachments)
        .where(
            _attachments.c.volume_id == bindparam("volume_id"),
            _attachments.c.server_id.in_(_ids(count)),
        )
        .values(state=bindparam("new_state"))
    )


class _Statements:
    """Every admission statement, compiled for one dialect (IN lists: one per length)."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.volume = CompiledStatement(dialect, _VOLUME)
        self.attachments_of_volume = CompiledStatement(dialect, _ATTACHMENTS_OF_VOLUME)
        self.set_volume_status = CompiledStatement(dialect, _SET_VOLUME_STATUS)
        self.insert_attachments = CompiledStatement(
            dialect, _INSERT_ATTACHMENTS, _ATTACHMENT_COLUMNS
        )
        self.insert_jobs = CompiledStatement(dialect, _INSERT_JOBS, _JOB_COLUMNS)
        self._sized: dict[tuple[str, int], CompiledStatement] = {}
        self.error: type[Exception] = dialect.loaded_dbapi.Error

    def sized(self, kind: str, count: int) -> CompiledStatement:
        key = (kind, count)
        statement = self._sized.get(key)
        if statement is None:
            build = {
                "servers": _servers_statement,
                "devices": _devices_statement,
                "mark": _mark_statement,
            }[kind]
            statement = self._sized[key] = CompiledStatement(self.dialect, build(count))
        return statement


_by_dialect: weakref.WeakKeyDictionary[Dialect, _Statements] = weakref.WeakKeyDictionary()


def _statements(dialect: Dialect) -> _Statements:
    found = _by_dialect.get(dialect)
    if found is None:
        found = _by_dialect[dialect] = _Statements(dialect)
    return found


class AdmissionStore:
    """Batch admission's reads and writes in the transaction of `connection`."""

    def __init__(self, connection: Connection) -> None:
        self._statements = _statements(connection.dialect)
        dbapi = connection.connection.dbapi_connection
        if dbapi is None:  # only a closed connection has none
            raise RuntimeError("the transaction's connection is closed")
        self._dbapi = dbapi

    def volume(self, project_id: str, volume_id: str) -> VolumeRow | None:
        rows = self._fetch(
            self._statements.volume, {"volume_id": volume_id, "project_id": project_id}
        )
        return VolumeRow(*rows[0]) if rows else None

    def servers(self, project_id: str, server_ids: Sequence[str]) -> dict[str, ServerRow]:
        """The named servers of the project, locked in id order."""
        unique = sorted(set(server_ids))
        statement = self._statements.sized("servers", len(unique))
        values = {"project_id": project_id, **_numbered(unique)}
        return {row[0]: ServerRow(*row) for row in self._fetch(statement, values)}

    def attachments_of_volume(self, volume_id: str) -> dict[str, AttachmentRow]:
        rows = self._fetch(self._statements.attachments_of_volume, {"volume_id": volume_id})
        return {row[0]: AttachmentRow(*row) for row in rows}

    def devices_of_servers(self, server_ids: Collection[str]) -> dict[str, set[str]]:
        unique = sorted(set(server_ids))
        found: dict[str, set[str]] = {server_id: set() for server_id in unique}
        statement = self._statements.sized("devices", len(unique))
        for server_id, device in self._fetch(statement, _numbered(unique)):
            found[server_id].add(device)
        return found

    def mark_attachments(self, volume_id: str, server_ids: Collection[str], state: str) -> None:
        unique = sorted(set(server_ids))
        statement = self._statements.sized("mark", len(unique))
        values = {"volume_id": volume_id, "new_state": state, **_numbered(unique)}
        self._execute(statement, [values])

    def insert_attachments(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self._execute(self._statements.insert_attachments, rows)

    def set_volume_status(self, volume_id: str, status: str, now: datetime) -> None:
        self._execute(
            self._statements.set_volume_status,
            [{"volume_id": volume_id, "new_status": status, "now": now}],
        )

    def insert_jobs(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self._execute(self._statements.insert_jobs, rows)

    def _fetch(
        self, statement: CompiledStatement, values: Mapping[str, Any]
    ) -> list[Sequence[Any]]:
        parameters = statement.parameters(values)
        cursor = self._dbapi.cursor()
        try:
            cursor.execute(statement.sql, parameters)
            rows = cursor.fetchall()
        except self._statements.error as error:
            raise DBAPIError.instance(
                statement.sql, parameters, error, self._statements.error
            ) from error
        finally:
            cursor.close()
        return [statement.convert(row) for row in rows]

    def _execute(self, statement: CompiledStatement, rows: Sequence[Mapping[str, Any]]) -> None:
        memo: dict[int, tuple[Any, Any]] = {}
        parameters = [statement.parameters(row, memo) for row in rows]
        cursor = self._dbapi.cursor()
        per_statement = statement.rows_per_statement()
        try:
            if len(parameters) == 1:
                cursor.execute(statement.sql, parameters[0])
            elif per_statement > 1:
                for start in range(0, len(parameters), per_statement):
                    chunk = parameters[start : start + per_statement]
                    sql = statement.multi_row(len(chunk))
                    cursor.execute(sql, tuple(chain.from_iterable(chunk)))
            else:
                cursor.executemany(statement.sql, cast(Any, parameters))
        except self._statements.error as error:
            raise DBAPIError.instance(
                statement.sql, parameters, error, self._statements.error
            ) from error
        finally:
            cursor.close()


def _numbered(ids: Sequence[str]) -> dict[str, str]:
    return {f"id{i}": value for i, value in enumerate(ids)}
