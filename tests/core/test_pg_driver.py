"""`core.pg_driver.run_direct`: a statement run on asyncpg directly belongs to SQLAlchemy's
transaction (begun by it when nothing else has yet), and fails with SQLAlchemy's exceptions."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, ProgrammingError

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
