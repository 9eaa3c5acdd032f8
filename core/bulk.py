"""Many rows in one statement with a fixed number of parameters.

SQLAlchemy binds a many-row statement row by row: for each row it builds a parameter dict and
runs every value through its type's processor, then flattens the rows into one long parameter
list. For a batch of a few dozen rows that costs more in Python than the statement costs in the
database. A `RowSource` instead sends the batch as one value: a JSON array of rows, read by
`json_each` (SQLite) or `jsonb_array_elements` with each column cast to its type (PostgreSQL),
and is used as the FROM of an ordinary Core statement (`INSERT ... SELECT`, `UPDATE ... FROM`),
whose compiled form SQLAlchemy caches as usual. Values go through the same type processors as a
normal bind, so what is stored is exactly what a row-by-row INSERT would store. (On PostgreSQL
one array per column cost more: asyncpg encodes arrays element by element in this process,
where the JSON is encoded by orjson here and read by the database, on its own core.)

`fetch` and `run` go further: the statement is compiled once to SQL text with its other
parameters already processed, and runs on the driver directly (`core.sqlite_driver`,
`core.pg_driver`), in SQLAlchemy's transaction; the rows come back through the same result
processors as SQLAlchemy's.
"""

from __future__ import annotations

import functools
from collections import namedtuple
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Column, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.expression import Subquery

from core import pg_driver
from core.sqlite_driver import run_direct


@functools.cache
def dialect_of(name: str) -> Dialect:
    """The dialect whose type processors and type names the batches use (made on first use:
    a SQLite gateway never loads the asyncpg dialect)."""
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import asyncpg

        return asyncpg.dialect()  # type: ignore[no-any-return]
    return sqlite.dialect()  # type: ignore[no-any-return]


Processor = Callable[[Any], Any] | None
# Values of JSON columns that cannot be remembered by value.
UNHASHABLE = frozenset({list, dict})


@dataclass(frozen=True)
class RowSource:
    """Rows of the given columns, as a subquery named `name`, filled by `params(rows)`."""

    dialect: str
    name: str
    columns: tuple[Column[Any], ...]

    @functools.cached_property
    def subquery(self) -> Subquery:
        """The rows as a selectable: `source.subquery.c.<column>`."""
        typed = [Column(c.name, c.type) for c in self.columns]
        return text(self.select_sql).columns(*typed).subquery(self.name)

    @functools.cached_property
    def select_sql(self) -> str:
        """The rows as SQL text (a SELECT with the columns' names), for hand-written statements
        run as `text(...)` with `params(rows)`."""
        if self.dialect == "postgresql":
            dialect = dialect_of("postgresql")
            casts = ", ".join(
                f"CAST(value ->> {i} AS {c.type.compile(dialect=dialect)}) AS {c.name}"
                for i, c in enumerate(self.columns)
            )
            rows = f"jsonb_array_elements(CAST(CAST(:{self.name} AS text) AS jsonb))"
            return f"SELECT {casts} FROM {rows}"
        names = [c.name for c in self.columns]
        picks = ", ".join(f"value ->> {i} AS {name}" for i, name in enumerate(names))
        return f"SELECT {picks} FROM json_each(:{self.name})"

    @functools.cached_property
    def _processors(self) -> tuple[tuple[int, Processor], ...]:
        """(position, processor) of the columns whose values need processing."""
        dialect = dialect_of(self.dialect)
        processors = (c.type.dialect_impl(dialect).bind_processor(dialect) for c in self.columns)
        return tuple((i, p) for i, p in enumerate(processors) if p is not None)

    def params(self, rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
        """The statement's parameters for `rows`, each a sequence in the columns' order."""
        if self._processors:
            rows = self._processed(rows)
        return {self.name: orjson.dumps(rows).decode()}

    async def fetch(
        self, connection: AsyncConnection, statement: Any, rows: Sequence[Sequence[Any]]
    ) -> list[Any]:
        """Runs `statement` (built on this source) for `rows` and returns its rows, with their
        columns' types applied as `connection.execute(statement, self.params(rows))` would."""
        compiled, raw = await self._direct_run(connection, statement, rows)
        return compiled.typed(raw)

    async def run(
        self, connection: AsyncConnection, statement: Any, rows: Sequence[Sequence[Any]]
    ) -> None:
        """Runs `statement` (built on this source, returning nothing) for `rows`."""
        await self._direct_run(connection, statement, rows)

    async def _direct_run(
        self, connection: AsyncConnection, statement: Any, rows: Sequence[Sequence[Any]]
    ) -> tuple[_Direct, list[Any]]:
        """`statement` compiled once and run on the driver; its untyped rows."""
        compiled = _direct(statement, self.name, self.dialect)
        parameters = compiled.parameters(self.params(rows)[self.name])
        run = run_direct if self.dialect == "sqlite" else pg_driver.run_direct
        return compiled, await run(connection, compiled.sql, parameters)

    def _processed(self, rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
        return processed(self._processors, rows)


def processed(
    processors: Sequence[tuple[int, Processor]], rows: Sequence[Sequence[Any]]
) -> list[list[Any]]:
    """`rows` with the values at each processor's position processed. A batch repeats its
    dates (and most processors are for dates, a few microseconds each), so each distinct value
    is processed once."""
    out = [list(row) for row in rows]
    for i, process in processors:
        assert process is not None
        seen: dict[Any, Any] = {}
        for values in out:
            value = values[i]
            kind = type(value)
            if kind in UNHASHABLE:
                values[i] = process(value)
                continue
            # Keyed with the type: 1 and True are equal keys but not equal JSON.
            key = (kind, value)
            done = seen.get(key, seen)
            if done is seen:  # not processed yet (`seen` itself is never a value)
                done = seen[key] = process(value)
            values[i] = done
    return out


async def insert_each(
    connection: AsyncConnection, statement: Any, names: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """SQLite: runs `statement`, an INSERT of one row whose values are the parameters `names`,
    once for each of `rows` (sequences in `names`' order), in their order, in one trip.

    For rows that are wide or carry long texts. `json_each` (`RowSource`) hands each row over
    as JSON text, and SQLite reads each column out of it by parsing the row's text again: for
    the intake's 27 columns and its list of recent texts that cost more than the insert and
    its triggers together. Here the driver binds each row's values (`executemany`), compiled
    once, the values processed as a normal bind would.
    """
    sql, order, processors = _each(statement, tuple(names))
    values = processed(processors, rows)
    await run_direct(connection, sql, [[row[i] for i in order] for row in values], many=True)


_EACH: dict[
    tuple[int, tuple[str, ...]],
    tuple[Any, tuple[str, tuple[int, ...], tuple[tuple[int, Processor], ...]]],
] = {}


def _each(
    statement: Any, names: tuple[str, ...]
) -> tuple[str, tuple[int, ...], tuple[tuple[int, Processor], ...]]:
    """`statement` compiled for SQLite once: its SQL, the position in `names` of each of its
    parameters, and the processors of the values, by their position in `names`."""
    found = _EACH.get((id(statement), names))
    if found is not None:
        return found[1]
    dialect = dialect_of("sqlite")
    compiled = _compiled(statement, dialect)
    keys = tuple(compiled.positiontup or ())
    if sorted(keys) != sorted(names):
        msg = f"the statement's parameters {keys} are not {names}"
        raise ValueError(msg)
    order = tuple(names.index(key) for key in keys)
    processors = []
    for i, name in enumerate(names):
        process = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            processors.append((i, process))
    made = (compiled.string, order, tuple(processors))
    _keep(_EACH, (id(statement), names), statement, made)
    return made


@functools.cache
def row_source(dialect: str, name: str, columns: tuple[Column[Any], ...]) -> RowSource:
    """The (cached) source of rows of `columns` for `dialect` (`sqlite` or `postgresql`)."""
    return RowSource(dialect, name, columns)


@dataclass(frozen=True)
class _Direct:
    """A statement compiled once for a dialect: its SQL, its other parameters already processed
    (in order, with `None` where the source's value goes), and its result columns' processors."""

    sql: str
    fixed: tuple[Any, ...]
    slots: tuple[int, ...]
    row: Any
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]

    def parameters(self, value: str) -> list[Any]:
        out = list(self.fixed)
        for slot in self.slots:
            out[slot] = value
        return out

    def typed(self, rows: list[Any]) -> list[Any]:
        if not self.processors:
            return [self.row._make(r) for r in rows]
        out = []
        for r in rows:
            values = list(r)
            for i, process in self.processors:
                values[i] = process(values[i])
            out.append(self.row._make(values))
        return out


_DIRECT: dict[tuple[int, str], tuple[Any, _Direct]] = {}
# Hot-path statements are a handful; more entries than this means statements built per call,
# which are compiled again rather than kept for ever.
_DIRECT_LIMIT = 256


def _direct(statement: Any, name: str, dialect_name: str) -> _Direct:
    """`statement` compiled for direct runs on `dialect_name`, once per statement object
    (statements on the hot path are built once; the entry keeps its statement alive, so its id
    stays its own)."""
    found = _DIRECT.get((id(statement), dialect_name))
    if found is not None:
        return found[1]
    dialect = dialect_of(dialect_name)
    compiled = _compiled(statement, dialect)
    values = compiled.construct_params({name: ""})
    fixed: list[Any] = []
    slots = []
    for position, key in enumerate(compiled.positiontup or ()):
        if key == name:
            slots.append(position)
            fixed.append(None)
            continue
        process = compiled.binds[key].type.dialect_impl(dialect).bind_processor(dialect)
        fixed.append(values[key] if process is None else process(values[key]))
    # A hand-written statement (`text`) returns nothing here: no columns to type.
    exported = getattr(statement, "exported_columns", None)
    columns = list(exported) if exported is not None else []
    processors = []
    for i, column in enumerate(columns):
        process = column.type.dialect_impl(dialect).result_processor(dialect, None)
        if process is not None:
            processors.append((i, process))
    # Unlabelled columns get positional names (`_2`): their rows are read by position.
    row = namedtuple("Row", list(exported.keys()) if exported is not None else [], rename=True)  # type: ignore[misc]
    made = _Direct(compiled.string, tuple(fixed), tuple(slots), row, tuple(processors))
    _keep(_DIRECT, (id(statement), dialect_name), statement, made)
    return made


def _compiled(statement: Any, dialect: Dialect) -> Any:
    """`statement` compiled for a direct run on `dialect`."""
    compiled = statement.compile(dialect=dialect)
    if compiled.insert_prefetch or compiled.update_prefetch:
        # Python-side defaults are computed by SQLAlchemy's execution, which this skips.
        msg = "a statement with Python-side defaults cannot run directly"
        raise ValueError(msg)
    return compiled


def _keep(cache: dict[Any, tuple[Any, Any]], key: Any, statement: Any, made: Any) -> None:
    """Remembers `made` for `statement` (kept alive with it, so that its id stays its own);
    more entries than `_DIRECT_LIMIT` means statements built per call, which start over."""
    if len(cache) >= _DIRECT_LIMIT:
        cache.clear()
    cache[key] = (statement, made)
