"""`IntListsJSON` on SQLite and PostgreSQL: 64-bit integers come back exactly, the stored text is
JSON the database itself reads, an integer beyond 64 bits is refused rather than rounded, and
the column read as text (`as_text`) gives the same pairs. `UTCDateTime` stores on SQLite the
text SQLAlchemy's own `DateTime` would, reads back aware UTC datetimes on both databases, and
refuses naive ones."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import DateTime, select, text, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import session_factory, transaction
from core.models_engagement import MemberState
from core.types import IntListsJSON, UTCDateTime
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


DATES = [
    datetime(2026, 11, 23, 17, 13, 4, 813_472, tzinfo=UTC),
    datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),  # no microseconds
    datetime(2026, 6, 30, 23, 30, 0, 1, tzinfo=timezone(timedelta(hours=3))),
    datetime(2026, 12, 31, 22, 0, tzinfo=timezone(timedelta(hours=-5))),  # next year in UTC
    datetime(5, 1, 1, tzinfo=UTC),
]


def processors(type_: Any) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """The bind and result processors of `type_` on SQLite."""
    dialect = sqlite.dialect()
    impl = type_.dialect_impl(dialect)
    bind, result = impl.bind_processor(dialect), impl.result_processor(dialect, None)
    assert bind is not None and result is not None
    return bind, result


@pytest.mark.parametrize("value", DATES, ids=str)
def test_sqlite_text_is_sqlalchemys_own_and_reads_back_in_utc(value: datetime) -> None:
    bind, result = processors(UTCDateTime())
    stock_bind, _ = processors(DateTime())
    stored = bind(value)
    assert stored == stock_bind(value.astimezone(UTC))
    read = result(stored)
    assert read == value
    assert read.tzinfo is UTC


def test_sqlite_reads_the_text_sqlite_writes_itself_and_refuses_naive_dates() -> None:
    bind, result = processors(UTCDateTime())
    assert result("2026-11-23 17:13:04") == datetime(2026, 11, 23, 17, 13, 4, tzinfo=UTC)
    assert result("2026-11-23 20:13:04+03:00") == datetime(2026, 11, 23, 17, 13, 4, tzinfo=UTC)
    assert result(None) is None
    assert bind(None) is None
    with pytest.raises(ValueError, match="naive"):
        bind(datetime(2026, 11, 23))  # noqa: DTZ001 (naive on purpose)


async def test_dates_round_trip_as_aware_utc(engine: AsyncEngine) -> None:
    table = MemberState.__table__  # type: ignore[attr-defined]
    for value in DATES:
        async with engine.begin() as connection:
            await connection.execute(
                update(table).where(table.c.chat_id == CHAT).values(latest_at=value)
            )
            read = (await connection.execute(select(table.c.latest_at))).scalar_one()
        assert read == value
        assert read.utcoffset() == timedelta(0)
