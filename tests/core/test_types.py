"""`IntListsJSON` on SQLite and PostgreSQL: 64-bit integers come back exactly, the stored text is
JSON the database itself reads, an integer beyond 64 bits is refused rather than rounded, and
the column read as text (`as_text`) gives the same pairs."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import session_factory, transaction
from core.models_engagement import MemberState
from core.types import IntListsJSON
from tests.core.conftest import GROUP

CHAT = GROUP
U64_MAX = (1 << 64) - 1
PAIRS = [[1_763_000_000, U64_MAX], [1_763_000_001, 0], [1_763_000_002, 1 << 63], [-5, -(1 << 63)]]


@pytest.fixture
async def engine(group_engine: AsyncEngine) -> AsyncEngine:
    async with transaction(session_factory(group_engine)) as session:
        session.add(MemberState(chat_id=CHAT, member_id=1, recent=[]))
    return group_engine


async def test_pairs_round_trip_exactly_as_json_the_database_reads(engine: AsyncEngine) -> None:
    table = MemberState.__table__  # type: ignore[attr-defined]
    async with engine.begin() as connection:
        await connection.execute(update(table).where(table.c.chat_id == CHAT).values(recent=PAIRS))
        stored = (await connection.execute(select(table.c.recent))).scalar_one()
        length = (
            await connection.execute(
                text(
                    "SELECT json_array_length(recent) FROM engagement_member_state"
                    if engine.dialect.name == "sqlite"
                    else "SELECT json_array_length(recent::json) FROM engagement_member_state"
                )
            )
        ).scalar_one()
    assert stored == PAIRS
    assert all(type(value) is int for pair in stored for value in pair)
    assert length == len(PAIRS)


async def test_an_integer_beyond_64_bits_is_refused_not_rounded(engine: AsyncEngine) -> None:
    table = MemberState.__table__  # type: ignore[attr-defined]
    write = update(table).where(table.c.chat_id == CHAT).values(recent=[[1, 1 << 64]])
    with pytest.raises(StatementError, match="64"):
        async with engine.begin() as connection:
            await connection.execute(write)
    async with engine.connect() as connection:
        assert (await connection.execute(select(table.c.recent))).scalar_one() == []


async def test_pairs_read_as_text_are_the_same_pairs(engine: AsyncEngine) -> None:
    table = MemberState.__table__  # type: ignore[attr-defined]
    async with engine.begin() as connection:
        await connection.execute(update(table).where(table.c.chat_id == CHAT).values(recent=PAIRS))
        read = select(table.c.recent, IntListsJSON.as_text(table.c.recent).label("text"))
        plain, as_text = (await connection.execute(read)).one()
    assert plain == as_text == PAIRS
