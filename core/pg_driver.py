"""Running one statement on asyncpg directly, inside SQLAlchemy's transaction.

The batch statements of the hot path (`core.bulk`) cost more in SQLAlchemy's execution layer
(its execution context, cursor adaptation, result objects and the thread switches between
them, about a hundred microseconds a statement) than in asyncpg itself. `run_direct` runs an
already compiled statement on the connection asyncpg holds for SQLAlchemy: with SQLAlchemy's
own prepared-statement cache, in its transaction (begun first if it has not been), under its
lock, and failing with SQLAlchemy's own exceptions (a connection the server dropped is
invalidated, as SQLAlchemy's execution would).

It uses the asyncpg adapter's internals (`_execute_mutex`, `_transaction`, `_prepare`), as
SQLAlchemy 2.1 (pinned in uv.lock) has them: tests/core/test_pg_driver.py checks that
behaviour, and is the first thing to run after upgrading SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection


async def run_direct(connection: AsyncConnection, sql: str, parameters: Sequence[Any]) -> list[Any]:
    """Runs `sql` (compiled for asyncpg: `$n` parameters) with positional `parameters` in the
    connection's transaction; returns its rows as asyncpg gives them (`Record`s, untyped by
    SQLAlchemy). An error comes out as `connection.execute` would raise it
    (`sqlalchemy.exc.IntegrityError`, `OperationalError`, ...)."""
    # SQLAlchemy's adapter of the asyncpg connection (`AsyncAdapt_asyncpg_connection`).
    adapted: Any = (await connection.get_raw_connection()).dbapi_connection
    dialect = connection.dialect
    dbapi_error = adapted.dbapi.Error
    try:
        async with adapted._execute_mutex:
            try:
                if adapted._transaction is None:
                    await adapted._start_transaction()
                asof = getattr(dialect, "_invalidate_schema_cache_asof", 0)
                prepared, _ = await adapted._prepare(sql, asof)
                return list(await prepared.fetch(*parameters))
            except dbapi_error:
                raise
            except Exception as error:
                adapted._handle_exception(error)  # raises the adapter's own DBAPI error
                raise
    except dbapi_error as error:
        # As SQLAlchemy's execution does: a connection the server dropped is not used again.
        dropped = dialect.is_disconnect(error, adapted, None)
        if dropped:
            await connection.invalidate(error)
        raise DBAPIError.instance(
            sql,
            list(parameters),
            error,
            dbapi_error,
            dialect=dialect,
            connection_invalidated=dropped,
        ) from error
