"""The hot reads: ShowJob and "is any fault set?", on the DB-API connection.

They run on every request of a polling client. Each is one indexed statement, which is its own
consistent snapshot, so it needs neither an ORM session nor a transaction. The statements are
written in SQLAlchemy and compiled once per database; rows are converted with the columns' own
result processors (the Timestamp and JSON types), so the values are those the ORM would give.
Skipping the Core execution machinery takes a lookup from ~70 µs to a few.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Engine, Select, bindparam, or_, select
from sqlalchemy.exc import DBAPIError

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


class _Statement:
    """A Core select compiled for one engine, with its parameter order and row converters."""

    def __init__(self, engine: Engine, statement: Select[Any]) -> None:
        dialect = engine.dialect
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        self._positions = tuple(compiled.positiontup or ()) if dialect.positional else None
        # Values fixed in the statement itself (a LIMIT) are parameters too.
        self._defaults: dict[str, Any] = dict(compiled.params)
        self._converters: list[Callable[[Any], Any] | None] = [
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in statement.selected_columns
        ]

    def parameters(self, values: Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
        merged = {**self._defaults, **values}
        if self._positions is None:
            return merged
        return tuple(merged[name] for name in self._positions)

    def convert(self, row: Sequence[Any]) -> list[Any]:
        return [
            value if convert is None else convert(value)
            for convert, value in zip(self._converters, row, strict=True)
        ]


class Reads:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._server = engine.dialect.name != "sqlite"
        self._dbapi_error: type[Exception] = engine.dialect.loaded_dbapi.Error
        self._job_tree = _Statement(engine, _JOB_TREE)
        self._any_fault = _Statement(engine, _ANY_FAULT)

    def any_fault(self) -> bool:
        """Whether any fault is set."""
        return bool(self._fetch(self._any_fault, {}))

    def job_tree(self, job_id: str) -> list[JobRow]:
        """The job's row and its sub-jobs' rows, in submission order."""
        return [JobRow(*row) for row in self._fetch(self._job_tree, {"job_id": job_id})]

    def _fetch(self, statement: _Statement, values: Mapping[str, Any]) -> list[list[Any]]:
        parameters = statement.parameters(values)
        with self._connection() as connection:
            cursor = connection.cursor()
            try:
                cursor.execute(statement.sql, parameters)
                # fetchall: a half-read SQLite statement would keep its snapshot open.
                rows = cursor.fetchall()
            except self._dbapi_error as error:
                # As SQLAlchemy would: a dead connection leaves the pool, and callers see the
                # same DBAPIError family as from any other statement.
                connection.invalidate(error)
                raise DBAPIError.instance(
                    statement.sql, parameters, error, self._dbapi_error
                ) from error
            finally:
                cursor.close()
        return [statement.convert(row) for row in rows]

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        try:
            connection = self._engine.raw_connection()
        except self._dbapi_error as error:
            # raw_connection() leaves a failed connect unwrapped; callers (the API's 503 handler,
            # the workers' outage backoff) expect SQLAlchemy's DBAPIError family, as from any
            # other checkout.
            raise DBAPIError.instance(None, None, error, self._dbapi_error) from error
        try:
            if self._server:
                # Autocommit for the one statement: no BEGIN/ROLLBACK round trips around it.
                driver = connection.driver_connection
                driver.autocommit = True  # type: ignore[union-attr]
                try:
                    yield connection
                finally:
                    # Never back to the pool in autocommit: the next user expects transactions.
                    if connection.is_valid:
                        driver.autocommit = False  # type: ignore[union-attr]
            else:
                # The engine's connections are in driver autocommit (see database.py): a
                # statement outside BEGIN is a transaction of its own.
                yield connection
        finally:
            connection.close()
