"""Every migration goes up, down and up again, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import inspect
from sqlmodel import SQLModel

import core.models
import core.models_sandbox  # noqa: F401
from core.db import create_engine
from core.migrate import downgrade, revisions, upgrade


async def table_names(url: str) -> set[str]:
    engine = create_engine(url)
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    await engine.dispose()
    return names - {"alembic_version"}


def test_revisions_form_one_line() -> None:
    revs = revisions()
    assert revs[0] == "0001"
    assert len(revs) == len(set(revs))


async def test_stairway(empty_database_url: str) -> None:
    revs = revisions()
    previous = ["base", *revs[:-1]]
    for revision, before in zip(revs, previous, strict=True):
        await asyncio.to_thread(upgrade, empty_database_url, revision)
        await asyncio.to_thread(downgrade, empty_database_url, before)
        await asyncio.to_thread(upgrade, empty_database_url, revision)
    assert await table_names(empty_database_url) == set(SQLModel.metadata.tables)
    await asyncio.to_thread(downgrade, empty_database_url, "base")
    assert await table_names(empty_database_url) == set()


async def test_migrations_match_models(database_url: str) -> None:
    """The head schema has every column the SQLModel tables declare."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    await asyncio.to_thread(upgrade, database_url)
    engine = create_engine(database_url)

    def diff(sync_conn: object) -> list[object]:
        context = MigrationContext.configure(sync_conn)  # type: ignore[arg-type]
        return [
            d
            for d in compare_metadata(context, SQLModel.metadata)
            if not (isinstance(d, tuple) and d[0] in ("add_index", "remove_index"))
        ]

    async with engine.connect() as conn:
        differences = await conn.run_sync(diff)
    await engine.dispose()
    assert differences == []
    assert core.models.Member.__tablename__ == "members"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_database_urls_use_async_drivers(given: str, expected: str) -> None:
    from core.settings import normalize_database_url

    assert normalize_database_url(given) == expected


async def test_group_messages_carry_only_their_key(database_url: str) -> None:
    """Every stored message writes each index of `chat_messages`; queries name the group, so
    the primary key serves them all and no other index is kept (0015 dropped the member's)."""
    await asyncio.to_thread(upgrade, database_url)
    engine = create_engine(database_url)
    async with engine.connect() as conn:
        indexes = await conn.run_sync(lambda sync: inspect(sync).get_indexes("chat_messages"))
        key = await conn.run_sync(lambda sync: inspect(sync).get_pk_constraint("chat_messages"))
    await engine.dispose()
    assert indexes == []
    assert key["constrained_columns"] == ["chat_id", "message_id"]
