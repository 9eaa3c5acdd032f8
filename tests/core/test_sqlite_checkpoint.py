"""The write-ahead log is copied into the database by the checkpointer's thread, not by the
writers' commits."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from sqlalchemy import text

from core.db import create_engine
from core.sqlite_checkpoint import FALLBACK_PAGES, Checkpointer, database_path


def writer(path: Path) -> sqlite3.Connection:
    """A connection that never checkpoints by itself (autocheckpoint off)."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA wal_autocheckpoint=0")
    return connection


def write_rows(connection: sqlite3.Connection, count: int) -> None:
    connection.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body TEXT)")
    for _ in range(count):
        connection.execute("INSERT INTO t (body) VALUES (?)", ("x" * 2000,))


def wait_for(condition: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_committed_pages_reach_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    connection = writer(path)
    write_rows(connection, 1)
    with Checkpointer(path, interval=0.02) as checkpointer:
        assert wait_for(lambda: checkpointer.rounds > 0)
        before = path.stat().st_size
        write_rows(connection, 200)
        # In WAL mode only a checkpoint writes to the database file: the writer does not.
        assert wait_for(lambda: path.stat().st_size > before + 200 * 2000)
        assert checkpointer.pages > 0
    connection.close()
    assert not checkpointer.running


def test_without_it_the_pages_stay_in_the_log(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    connection = writer(path)
    write_rows(connection, 1)
    before = path.stat().st_size
    write_rows(connection, 200)
    time.sleep(0.2)
    assert path.stat().st_size == before
    connection.close()


def test_it_waits_for_the_file_and_never_creates_it(tmp_path: Path) -> None:
    path = tmp_path / "later.db"
    with Checkpointer(path, interval=0.02) as checkpointer:
        time.sleep(0.15)
        assert not path.exists()
        assert checkpointer.rounds == 0
        write_rows(writer(path), 1)
        assert wait_for(lambda: checkpointer.rounds > 0)


def test_only_sqlite_files_have_a_path(tmp_path: Path) -> None:
    assert database_path(f"sqlite+aiosqlite:///{tmp_path}/a.db") == tmp_path / "a.db"
    assert database_path("sqlite+aiosqlite:///:memory:") is None
    assert database_path("sqlite+aiosqlite://") is None
    assert database_path("postgresql+asyncpg://u@h/db") is None


async def test_engine_connections_take_the_fallback(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/e.db"
    for setting, expected in ((None, 1000), (FALLBACK_PAGES, FALLBACK_PAGES)):
        engine = create_engine(url, wal_autocheckpoint=setting)
        async with engine.connect() as conn:
            pages = (await conn.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one()
        await engine.dispose()
        assert pages == expected
