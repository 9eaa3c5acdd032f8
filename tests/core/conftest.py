"""Fixtures of the `core` tests: thread trips counted, and a migrated database with a group."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiosqlite
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from core import repo
from core.db import create_engine, session_factory, transaction
from core.migrate import upgrade

# The group that `group_engine`'s database knows.
GROUP = -1006600


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The names of the calls made on aiosqlite connections' threads."""
    calls: list[str] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    yield calls


@pytest.fixture
async def group_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a migrated database (SQLite, then PostgreSQL) that knows the group
    `GROUP`."""
    await asyncio.to_thread(upgrade, database_url)
    made = create_engine(database_url)
    async with transaction(session_factory(made)) as session:
        await repo.upsert_chat(
            session=session, id=GROUP, type="supergroup", title="T", username=None
        )
    yield made
    await made.dispose()
