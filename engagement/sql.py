"""Small SQL helpers shared by the engagement modules (SQLite and PostgreSQL alike)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel.ext.asyncio.session import AsyncSession


def dialect(session: AsyncSession) -> str:
    """The session's database dialect name."""
    return session.bind.dialect.name if session.bind is not None else "sqlite"


def upsert(session: AsyncSession, table: Any) -> Any:
    """An INSERT that understands `on_conflict_do_*` on the session's database."""
    return insert_for(dialect(session), table)


def insert_for(name: str, table: Any) -> Any:
    """An INSERT with `on_conflict_do_*` for the named dialect (for statements built once)."""
    return (postgresql if name == "postgresql" else sqlite).insert(table)


async def run(
    session: AsyncSession, stmt: Any, params: dict[str, Any] | list[dict[str, Any]] | None = None
) -> Any:
    """Executes a Core statement on the session's connection, in its transaction (once per
    parameter set when given a list: one round trip for all of them).

    Going around the ORM layer matters on the hot path: the ORM's `execute` costs several
    times the statement itself. Pending ORM objects are not flushed first; callers flush.
    """
    connection = await session.connection()
    return await connection.execute(stmt, params)


async def rows(session: AsyncSession, stmt: Any) -> list[Any]:
    """Every row of a Core select."""
    return list((await run(session, stmt)).all())


async def scalar(session: AsyncSession, stmt: Any) -> Any:
    """The first column of the first row, or None when there is no row."""
    row = (await run(session, stmt)).first()
    return None if row is None else row[0]
