"""`core.pg_driver.run_direct`: a statement run on asyncpg directly belongs to SQLAlchemy's
transaction (begun by it when nothing else has yet), and fails with SQLAlchemy's exceptions."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, InterfaceError, ProgrammingError

from core.db import create_engine
from core.pg_driver import run_direct

TABLE = "CREATE TABLE direct_rows (id INTEGER PRIMARY KEY, name TEXT NOT NULL)"


async def test_a_direct_statement_is_part_of_the_transaction(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    async with engine.begin() as conn:
        await conn.execute(text(TABLE))
    async with engine.connect() as conn:
        await conn.begin()
        # The first statement of the transaction: it begins it.
        rows = await run_direct(
            conn, "INSERT INTO direct_rows VALUES ($1, $2), ($3, $4) RETURNING id", [1, "a", 2, "b"]
        )
        assert [tuple(r) for r in rows] == [(1,), (2,)]
        seen = await conn.execute(text("SELECT count(*) FROM direct_rows"))
        assert seen.scalar_one() == 2
        await conn.rollback()
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM direct_rows"))).scalar_one() == 0
        await conn.execute(text("DROP TABLE direct_rows"))
        await conn.commit()
    await engine.dispose()


async def test_direct_errors_are_sqlalchemy_errors(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    async with engine.begin() as conn:
        await conn.execute(text(TABLE))
        await run_direct(conn, "INSERT INTO direct_rows VALUES ($1, $2)", [1, "a"])
        with pytest.raises(IntegrityError, match="duplicate key"):
            await run_direct(conn, "INSERT INTO direct_rows VALUES ($1, $2)", [1, "b"])
        await conn.rollback()
    async with engine.connect() as conn:
        with pytest.raises(ProgrammingError, match="no_such_table"):
            await run_direct(conn, "SELECT * FROM no_such_table", [])
    await engine.dispose()


async def test_a_connection_the_server_dropped_fails_as_sqlalchemy_says_and_is_replaced(
    postgres_url: str,
) -> None:
    """The server ends the session under a transaction: the direct statement fails with
    SQLAlchemy's disconnect error (a batch then fails, unacknowledged), and the next
    transaction gets a working connection."""
    engine = create_engine(postgres_url)
    async with engine.connect() as conn:
        await conn.begin()
        pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        async with engine.connect() as other:
            await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            gone = text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid")
            for _ in range(500):
                if not (await other.execute(gone, {"pid": pid})).scalar_one():
                    break
                await asyncio.sleep(0.01)
        asyncpg_conn = (await conn.get_raw_connection()).driver_connection
        assert asyncpg_conn is not None
        for _ in range(500):  # until the server's goodbye has reached us (5 s at most)
            if asyncpg_conn.is_closed():
                break
            await asyncio.sleep(0.01)
        with pytest.raises(InterfaceError, match="closed") as failed:
            await run_direct(conn, "SELECT 1", [])
        assert failed.value.connection_invalidated
    async with engine.begin() as conn:
        assert [tuple(r) for r in await run_direct(conn, "SELECT 2", [])] == [(2,)]
    await engine.dispose()
