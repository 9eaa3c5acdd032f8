"""`RowSource.fetch` and `run` on SQLite and PostgreSQL: the rows a batch statement returns are
typed exactly as SQLAlchemy's own execution types them, a SQLite batch costs one trip to the
connection's thread, and a statement with Python-side defaults is refused rather than run
without them. `insert_each` on SQLite stores what a row-by-row INSERT stores, in order, in one
trip. `processed` processes each distinct value once, and values equal across types apart."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import Boolean, Column, Integer, MetaData, Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from core import repo
from core.bulk import insert_each, processed, row_source
from core.db import session_factory, transaction
from core.models_engagement import MemberState
from core.types import IntListsJSON, UTCDateTime
from engagement import batch
from tests.core.conftest import GROUP

CHAT = GROUP
AT = datetime(2026, 11, 20, 9, 30, 15, 250_000, tzinfo=UTC)


async def test_locked_states_come_back_as_execute_types_them(
    group_engine: AsyncEngine, trips: list[str]
) -> None:
    dialect = group_engine.dialect.name
    lock, members = batch._lock_many(dialect)
    table = MemberState.__table__  # type: ignore[attr-defined]
    wanted = [(CHAT, 1), (CHAT, 2)]
    async with group_engine.begin() as conn:
        await members.fetch(conn, lock, wanted)  # creates both rows
        await conn.execute(
            update(table)
            .where(table.c.member_id == 2)
            .values(latest_at=AT, latest_message_id=9, recent=[[1, (1 << 64) - 1]], day=3)
        )
        trips.clear()
        fetched = await members.fetch(conn, lock, wanted)
        if dialect == "sqlite":
            assert trips == ["_run"]
        executed = (await conn.execute(lock, members.params(wanted))).all()
    assert [tuple(r) for r in fetched] == [tuple(r) for r in executed]
    second = next(r for r in fetched if r.member_id == 2)
    assert second.latest_at == AT and second.latest_at.tzinfo is not None
    assert second.recent == [[1, (1 << 64) - 1]]
    assert second.has_qualified is False and second.invite_credited is False
    assert second.day == 3


async def test_messages_are_stored_once(group_engine: AsyncEngine) -> None:
    async with transaction(session_factory(group_engine)) as session:
        for member in (1, 2):
            await repo.upsert_member(
                session=session,
                id=member,
                username=None,
                first_name="M",
                last_name=None,
                language_code=None,
                is_bot=False,
            )
    rows = [
        {
            "chat_id": CHAT,
            "message_id": i,
            "member_id": 1 + i % 2,
            "update_id": 100 + i,
            "kind": "text",
            "text_length": 5,
            "reply_to_message_id": None,
            "sent_at": AT,
        }
        for i in (1, 2, 3)
    ]
    async with transaction(session_factory(group_engine)) as session:
        assert await repo.record_messages(session=session, rows=rows) == {
            (CHAT, 1),
            (CHAT, 2),
            (CHAT, 3),
        }
    async with transaction(session_factory(group_engine)) as session:
        again = [*rows[1:], {**rows[0], "message_id": 4, "update_id": 104}]
        assert await repo.record_messages(session=session, rows=again) == {(CHAT, 4)}
        stored = await repo.count_messages(session=session, chat_id=CHAT)
    assert stored == 4


def test_python_side_defaults_are_refused() -> None:
    table = Table(
        "defaults_here",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("n", Integer, default=lambda: 7),
    )
    source = row_source("sqlite", "rows", (table.c.id,))
    statement = insert(table).from_select(["id"], select(source.subquery.c.id))
    with pytest.raises(ValueError, match="Python-side defaults"):
        asyncio.run(source.run(None, statement, [[1]]))  # type: ignore[arg-type]


async def test_rows_inserted_each_are_stored_as_an_insert_stores_them(
    sqlite_url: str, trips: list[str]
) -> None:
    from core.db import create_engine

    engine = create_engine(sqlite_url)
    table = Table(
        "each_rows",
        MetaData(),
        Column("id", Integer),  # no key: SQLite's rowid keeps the order of insertion
        Column("at", UTCDateTime()),
        Column("pairs", IntListsJSON()),
        Column("flag", Boolean()),
    )
    async with engine.begin() as conn:
        await conn.run_sync(table.metadata.create_all)
        statement = insert(table).values({c.name: bindparam(c.name, type_=c.type) for c in table.c})
        names = ["pairs", "flag", "at", "id"]  # not the statement's order
        rows = [[[[1, (1 << 64) - 1]], True, AT, 2], [[], False, AT, 1]]
        trips.clear()
        await insert_each(conn, statement, names, rows)
        assert trips == ["_run"]
        await conn.execute(
            statement, {"id": 3, "at": AT, "pairs": [[1, (1 << 64) - 1]], "flag": True}
        )
        raw = (
            await conn.exec_driver_sql("SELECT id, at, pairs, flag FROM each_rows ORDER BY rowid")
        ).all()
        stored = (await conn.execute(select(table).order_by(table.c.id))).all()
    await engine.dispose()
    assert [r[0] for r in raw] == [2, 1, 3]  # in the rows' order
    assert raw[0][1:] == raw[2][1:]  # exactly what the normal insert stored
    assert [tuple(r) for r in stored] == [
        (1, AT, [], False),
        (2, AT, [[1, (1 << 64) - 1]], True),
        (3, AT, [[1, (1 << 64) - 1]], True),
    ]
    with pytest.raises(ValueError, match="not"):
        await insert_each(conn, statement, ["id", "at"], [[1, AT]])


def test_processed_tells_equal_values_of_different_types_apart() -> None:
    calls: list[object] = []

    def process(value: object) -> str:
        calls.append(value)
        return repr(value)

    rows = [[1, "a"], [True, "b"], [1.0, "c"], [1, "d"], [[1], "e"], [[1], "f"], [None, "g"]]
    assert processed([(0, process)], rows) == [
        ["1", "a"],
        ["True", "b"],
        ["1.0", "c"],
        ["1", "d"],
        ["[1]", "e"],
        ["[1]", "f"],
        ["None", "g"],
    ]
    assert calls == [1, True, 1.0, [1], [1], None]  # lists are not remembered
    assert rows[0] == [1, "a"]  # the input is left as it was
