"""The SQLite driver: one trip to the connection's thread per statement, BEGIN sent with the
next statement, and the same results and errors as SQLAlchemy's aiosqlite driver; statements
run directly (`run_direct`) likewise, in the connection's transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import create_engine
from core.sqlite_driver import OneHopConnection, begin_immediate, run_direct


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}", busy_timeout_ms=50)
    async with engine.begin() as conn:
        await conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
    yield engine
    await engine.dispose()


async def test_engines_use_the_one_hop_driver(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        raw = (await conn.get_raw_connection()).dbapi_connection
    assert isinstance(raw, OneHopConnection)


async def test_a_statement_with_rows_is_one_trip(engine: AsyncEngine, trips: list[str]) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t (name) VALUES ('a'), ('b')"))
        trips.clear()
        result = await conn.execute(text("SELECT id, name FROM t ORDER BY id"))
        assert trips == ["_run"]
        assert [tuple(r) for r in result.all()] == [(1, "a"), (2, "b")]
        assert list(result.keys()) == ["id", "name"]


async def test_rowcount_lastrowid_and_executemany(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        inserted = await conn.execute(text("INSERT INTO t (name) VALUES ('x')"))
        assert inserted.lastrowid == 1
        await conn.execute(
            text("INSERT INTO t (name) VALUES (:name)"), [{"name": "y"}, {"name": "z"}]
        )
        updated = await conn.execute(text("UPDATE t SET name = upper(name)"))
        assert updated.rowcount == 3
        names = (await conn.execute(text("SELECT name FROM t ORDER BY id"))).scalars().all()
    assert names == ["X", "Y", "Z"]


async def test_begin_immediate_goes_with_the_next_statement(
    engine: AsyncEngine, tmp_path: Path, trips: list[str]
) -> None:
    other = sqlite3.connect(tmp_path / "driver.db", timeout=0.05)
    async with engine.connect() as conn:
        await conn.begin()
        trips.clear()
        await begin_immediate(conn)
        assert trips == []  # nothing sent yet, so nothing locked yet
        other.execute("BEGIN IMMEDIATE")
        other.rollback()
        await conn.execute(text("INSERT INTO t (name) VALUES ('held')"))
        assert trips == ["_run"]
        # The write lock is ours now: another writer is refused until we commit.
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        await conn.commit()
    other.execute("BEGIN IMMEDIATE")
    other.rollback()
    assert other.execute("SELECT name FROM t").fetchall() == [("held",)]
    other.close()


@contextmanager
def write_locked(path: Path) -> Iterator[sqlite3.Connection]:
    """Another connection holding the database's write lock throughout."""
    other = sqlite3.connect(path, timeout=0.05)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield other
    finally:
        other.rollback()
        other.close()


async def test_a_locked_database_fails_the_statement_after_begin_immediate(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    with write_locked(tmp_path / "driver.db") as other:
        async with engine.connect() as conn:
            await conn.begin()
            await begin_immediate(conn)
            with pytest.raises(OperationalError, match="locked"):
                await conn.execute(text("INSERT INTO t (name) VALUES ('lost')"))
            await conn.rollback()
        assert other.execute("SELECT count(*) FROM t").fetchone() == (0,)


async def test_an_empty_immediate_transaction_commits_without_a_trip(
    engine: AsyncEngine, trips: list[str]
) -> None:
    async with engine.connect() as conn:
        await conn.begin()
        await begin_immediate(conn)
        trips.clear()
        await conn.commit()
        assert trips == []


async def test_returning_a_committed_connection_costs_no_trip(
    engine: AsyncEngine, trips: list[str]
) -> None:
    conn = await engine.connect()
    await conn.begin()
    await conn.execute(text("INSERT INTO t (name) VALUES ('a')"))
    await conn.commit()
    trips.clear()
    await conn.close()  # the pool's rollback on return
    assert trips == []


async def test_an_open_transaction_is_rolled_back_on_return(engine: AsyncEngine) -> None:
    conn = await engine.connect()
    await conn.begin()
    await conn.execute(text("INSERT INTO t (name) VALUES ('gone')"))
    await conn.close()
    async with engine.connect() as check:
        assert (await check.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0


async def test_a_direct_statement_is_one_trip_in_the_transaction(
    engine: AsyncEngine, tmp_path: Path, trips: list[str]
) -> None:
    async with engine.connect() as conn:
        await conn.begin()
        await begin_immediate(conn)
        trips.clear()
        rows = await run_direct(
            conn, "INSERT INTO t (name) VALUES (?), (?) RETURNING id", ["a", "b"]
        )
        assert trips == ["_run"]  # the BEGIN IMMEDIATE went with it
        assert rows == [(1,), (2,)]
        assert await run_direct(conn, "SELECT name FROM t ORDER BY id", []) == [("a",), ("b",)]
        await conn.rollback()
    other = sqlite3.connect(tmp_path / "driver.db")
    assert other.execute("SELECT count(*) FROM t").fetchone() == (0,)
    other.close()


async def test_direct_errors_are_sqlalchemy_errors(engine: AsyncEngine, tmp_path: Path) -> None:
    async with engine.begin() as conn:
        await run_direct(conn, "INSERT INTO t (id, name) VALUES (?, ?)", [1, "a"])
        with pytest.raises(IntegrityError, match="UNIQUE"):
            await run_direct(conn, "INSERT INTO t (id, name) VALUES (?, ?)", [1, "b"])
    with write_locked(tmp_path / "driver.db"):
        async with engine.connect() as conn:
            await conn.begin()
            await begin_immediate(conn)
            with pytest.raises(OperationalError, match="locked"):
                await run_direct(conn, "INSERT INTO t (name) VALUES (?)", ["lost"])
            await conn.rollback()


async def test_a_direct_statement_runs_for_each_row_in_one_trip(
    engine: AsyncEngine, trips: list[str]
) -> None:
    async with engine.begin() as conn:
        trips.clear()
        rows = await run_direct(
            conn, "INSERT INTO t (name) VALUES (?)", [["a"], ["b"], ["c"]], many=True
        )
        assert trips == ["_run"]
        assert rows == []
        names = await run_direct(conn, "SELECT name FROM t ORDER BY id", [])
    assert names == [("a",), ("b",), ("c",)]
