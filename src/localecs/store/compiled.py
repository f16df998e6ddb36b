"""Statements compiled once per database and run on the DB-API connection: the hot reads
(store/reads.py) and the admissions (store/admission.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

# The fewest bound parameters a SQLite build allows in one statement (999 before 3.32).
MAX_PARAMETERS = 999


class CompiledStatement:
    """A statement compiled for one dialect: its SQL, its parameters' order, and the columns'
    own converters for the values going in and the rows coming out, so that it runs on a DB-API
    cursor with the values the ORM would give, without SQLAlchemy's execution machinery (a
    lookup's ~70 µs become a few)."""

    def __init__(
        self, dialect: Dialect, statement: ClauseElement, columns: Sequence[str] | None = None
    ) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect, column_keys=columns))
        self.sql = str(compiled)
        # The names as rendered in the SQL ("param_1" for an anonymous LIMIT): `binds` also
        # holds anonymous parameters under their internal keys.
        rendered = list(dict.fromkeys(compiled.bind_names.values()))
        names = list(compiled.positiontup or ()) if dialect.positional else rendered
        self._positional = dialect.positional
        self._names = names
        # Values fixed in the statement itself (a LIMIT) are parameters too.
        self._defaults: dict[str, Any] = dict(compiled.params)
        processors = [
            compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in names
        ]
        # Only the parameters whose type converts (timestamps, JSON, booleans) cost a call.
        self._converting: list[tuple[int, Callable[[Any], Any]]] = [
            (position, convert)
            for position, convert in enumerate(processors)
            if convert is not None
        ]
        selected = getattr(statement, "selected_columns", None)
        self._results: list[Callable[[Any], Any] | None] = [
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in (selected or ())
        ]
        self._plain_rows = all(convert is None for convert in self._results)
        self._multi: dict[int, str] = {}

    def rows_per_statement(self) -> int:
        """For a one-row INSERT with positional parameters (SQLite): how many rows one
        multi-row INSERT may carry (SQLite before 3.32 takes at most 999 parameters); 1 where
        the driver's parameters are named (PostgreSQL's executemany is pipelined anyway)."""
        if not self._positional or not self.sql.startswith("INSERT"):
            return 1
        return max(1, MAX_PARAMETERS // max(1, len(self._names)))

    def multi_row(self, count: int) -> str:
        """The INSERT of `count` rows in one statement, whose parameters are the rows' one
        after the other. One statement rather than `count` executions: the driver lets go of
        the GIL around every execution, and under load each time costs the writer a wait to
        get it back."""
        sql = self._multi.get(count)
        if sql is None:
            head, values, group = self.sql.partition(" VALUES ")
            sql = self._multi[count] = head + values + ", ".join([group] * count)
        return sql

    def parameters(
        self, values: Mapping[str, Any], memo: dict[int, tuple[Any, Any]] | None = None
    ) -> Sequence[Any] | dict[str, Any]:
        """`values` converted for the driver. Rows of one executemany share objects (the
        admission's timestamp): `memo` converts each such object once."""
        defaults = self._defaults
        row = [values[name] if name in values else defaults[name] for name in self._names]
        for position, convert in self._converting:
            value = row[position]
            if value is None:
                continue
            seen = memo.get(position) if memo is not None else None
            if seen is not None and seen[0] is value:
                row[position] = seen[1]
                continue
            row[position] = processed = convert(value)
            if memo is not None:
                memo[position] = (value, processed)
        if self._positional:
            return tuple(row)
        return dict(zip(self._names, row, strict=True))

    def convert(self, row: Sequence[Any]) -> Sequence[Any]:
        if self._plain_rows:
            return row
        return [
            value if convert is None else convert(value)
            for convert, value in zip(self._results, row, strict=True)
        ]
