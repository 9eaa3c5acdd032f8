"""SQLite through aiosqlite with one thread hop per statement.

aiosqlite runs every call on the connection's own thread: the event loop queues the call, the
thread runs it and wakes the loop. SQLAlchemy's adapter makes four such calls per statement
(open a cursor, execute, fetch the rows, close), and on the gateway's hot path the hops cost
more than the statements themselves (a bare `SELECT 1` costs about twice as much CPU with
four hops as with one). Here the adapter's cursor does all four in one call on the thread.
`core.db.create_engine` passes `DBAPI` as the engine's module for SQLite URLs; everything else
(pooling, transactions, server-side cursors, errors) is SQLAlchemy's aiosqlite dialect as is.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from typing import Any, cast

import aiosqlite
from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_connection, AsyncIODBAPIConnection
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.util import immutabledict
from sqlalchemy.util.concurrency import await_

# What the thread hands back: description, rowcount, lastrowid and the rows.
Outcome = tuple[Any, int, int | None, list[Any]]


def _run(
    connection: sqlite3.Connection, operation: str, parameters: Any, many: bool, begin: str | None
) -> Outcome:
    """On the connection's thread: the whole life of one cursor, after `begin` if given."""
    cursor = connection.cursor()
    try:
        if begin is not None:
            cursor.execute(begin)
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose statement, rows and close take one trip to the thread."""

    __slots__ = ("_outcome",)
    _awaitable_cursor_close = False

    def __init__(self, adapt_connection: AsyncAdapt_dbapi_connection) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        # No aiosqlite cursor: `_run` opens and closes a sqlite3 one on the thread.
        self._cursor = cast(Any, None)
        self._soft_closed_memoized = immutabledict()
        self._rows = collections.deque()
        self._outcome: Outcome = (None, -1, None, [])

    @property
    def description(self) -> Any:
        return self._outcome[0]

    @property
    def rowcount(self) -> int:
        return self._outcome[1]

    @property
    def lastrowid(self) -> Any:
        return self._outcome[2]

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        """Rows are fetched all at once; the size asked for does not matter."""

    async def _async_soft_close(self) -> None:
        """Nothing is open on the thread between statements."""

    def close(self) -> None:
        self._rows.clear()

    async def _go(self, operation: Any, parameters: Any, many: bool) -> None:
        connection = cast(aiosqlite.Connection, self._connection)
        adapted = cast(OneHopConnection, self._adapt_connection)
        async with adapted._execute_mutex:
            begin, adapted.begin = adapted.begin, None
            outcome: Outcome = await connection._execute(
                _run, connection._conn, operation, parameters, many, begin
            )
        self._outcome = outcome
        self._rows = collections.deque(outcome[3])

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        await self._go(operation, parameters, False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        await self._go(operation, seq_of_parameters, True)


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    """The adapted connection; `begin` holds a BEGIN statement to send with the next one."""

    __slots__ = ("begin",)
    _cursor_cls = OneHopCursor

    def __init__(self, dbapi: Any, connection: AsyncIODBAPIConnection) -> None:
        super().__init__(dbapi, connection)
        self.begin: str | None = None

    def cursor(self, server_side: bool = False) -> Any:
        if server_side and self.begin is not None:
            # A streaming cursor is aiosqlite's own: the BEGIN goes on its own trip first.
            begin, self.begin = self.begin, None
            connection = cast(aiosqlite.Connection, self._connection)
            await_(connection._execute(connection._conn.execute, begin))
        return super().cursor(server_side)

    def _open(self) -> bool:
        """Whether SQLite has a transaction open on this connection (a BEGIN still waiting
        for its statement has opened nothing)."""
        connection: sqlite3.Connection | None = self._connection._connection
        return connection is None or connection.in_transaction

    def rollback(self) -> None:
        """Skips the trip to the thread when there is nothing to roll back: the pool rolls
        back every connection it takes back, most of them just after their COMMIT."""
        self.begin = None
        if self._open():
            super().rollback()

    def commit(self) -> None:
        self.begin = None
        if self._open():
            super().commit()


async def begin_immediate(connection: AsyncConnection) -> None:
    """Opens a write transaction (`BEGIN IMMEDIATE`): on our driver it travels with the
    connection's next statement, one trip to the thread for both, and a locked database
    fails that statement."""
    raw = (await connection.get_raw_connection()).dbapi_connection
    if isinstance(raw, OneHopConnection):
        raw.begin = "BEGIN IMMEDIATE"
    else:
        await connection.exec_driver_sql("BEGIN IMMEDIATE")


async def run_direct(
    connection: AsyncConnection, sql: str, parameters: Sequence[Any], *, many: bool = False
) -> list[Any]:
    """Runs `sql` with positional parameters in the connection's transaction and returns its
    rows as the driver gives them (tuples of SQLite's values, untyped). With `many`, runs it
    once for each sequence of `parameters`, in order (`executemany`), and returns no rows.

    On our driver this is one trip to the thread and nothing of SQLAlchemy's execution layer,
    which costs three times the trip itself on the hot path (see `core.bulk.RowSource.fetch`).
    A driver error comes out as SQLAlchemy's own (`sqlalchemy.exc.OperationalError`, ...), as
    it would from `connection.execute`.
    """
    raw = (await connection.get_raw_connection()).dbapi_connection
    if not isinstance(raw, OneHopConnection):
        if many:
            await connection.exec_driver_sql(sql, [tuple(p) for p in parameters])
            return []
        return list((await connection.exec_driver_sql(sql, tuple(parameters))).all())
    thread = cast(aiosqlite.Connection, raw._connection)
    async with raw._execute_mutex:
        begin, raw.begin = raw.begin, None
        try:
            outcome: Outcome = await thread._execute(
                _run, thread._conn, sql, parameters, many, begin
            )
        except sqlite3.Error as error:
            raise DBAPIError.instance(sql, parameters, error, sqlite3.Error) from error
    return outcome[3]


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """SQLAlchemy's aiosqlite module adapter, handing out `OneHopConnection`s."""

    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        adapted = super().connect(*arg, **kw)
        return OneHopConnection(self, adapted._connection)


DBAPI = OneHopDBAPI(aiosqlite, sqlite3)
