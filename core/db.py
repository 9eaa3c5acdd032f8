"""Async database engine and sessions: SQLite (WAL) by default, PostgreSQL through a URL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from core import sqlite_driver
from core.sqlite_checkpoint import database_path


def _sqlite_pragmas(busy_timeout_ms: int, wal_autocheckpoint: int | None) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        _apply_pragmas(dbapi_connection, busy_timeout_ms, wal_autocheckpoint)

    return on_connect


def _apply_pragmas(
    dbapi_connection: Any, busy_timeout_ms: int, wal_autocheckpoint: int | None = None
) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # WAL with NORMAL sync is durable against process crashes, the failure mode that matters here.
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Triggers and queries materialise subqueries in temporary tables; kept in memory, they
    # cost no temporary file each (several times the statement's own work).
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    if wal_autocheckpoint is not None:
        cursor.execute(f"PRAGMA wal_autocheckpoint={int(wal_autocheckpoint)}")
    cursor.close()


def create_engine(
    url: str,
    *,
    echo: bool = False,
    busy_timeout_ms: int = 5000,
    wal_autocheckpoint: int | None = None,
) -> AsyncEngine:
    """Creates the async engine; for SQLite, makes the folder and turns on WAL, and
    `wal_autocheckpoint` (pages) replaces SQLite's default automatic checkpoint."""
    if make_url(url).get_backend_name() == "sqlite":
        path = database_path(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        # One thread hop per statement instead of four (see `core.sqlite_driver`).
        engine = create_async_engine(url, echo=echo, module=sqlite_driver.DBAPI)
        event.listen(
            engine.sync_engine, "connect", _sqlite_pragmas(busy_timeout_ms, wal_autocheckpoint)
        )
        return engine
    return create_async_engine(url, echo=echo, pool_size=10, max_overflow=10, pool_pre_ping=True)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


@asynccontextmanager
async def transaction(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A session whose work commits on success and rolls back on any error."""
    async with sessions() as session, session.begin():
        yield session


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"
