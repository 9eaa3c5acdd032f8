"""The gateway's database helpers, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import repo
from core.clock import utcnow
from core.db import create_engine, session_factory, transaction
from core.migrate import upgrade
from core.models import Chat, Member, Membership, ProcessedUpdate


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await asyncio.to_thread(upgrade, database_url)
    engine = create_engine(database_url)
    yield session_factory(engine)
    await engine.dispose()


async def test_an_update_is_marked_once(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with transaction(sessions) as session:
        assert await repo.mark_update(session=session, bot_id=1, update_id=10, kind="message")
    async with transaction(sessions) as session:
        assert not await repo.mark_update(session=session, bot_id=1, update_id=10, kind="message")
        assert await repo.mark_update(session=session, bot_id=2, update_id=10, kind="message")


async def test_updates_are_marked_together_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    before = utcnow()
    async with transaction(sessions) as session:
        await repo.mark_update(session=session, bot_id=1, update_id=20, kind="message")
        updates = [(1, 20, "message"), (1, 21, "message"), (1, 21, "message"), (2, 20, "poll")]
        assert await repo.mark_updates(session=session, updates=updates) == {(1, 21), (2, 20)}
        assert await repo.mark_updates(session=session, updates=[]) == set()
    async with transaction(sessions) as session:
        assert not await repo.mark_update(session=session, bot_id=2, update_id=20, kind="poll")
        rows = (await session.exec(select(ProcessedUpdate))).all()
    assert sorted((r.bot_id, r.update_id, r.kind) for r in rows) == [
        (1, 20, "message"),
        (1, 21, "message"),
        (2, 20, "poll"),
    ]
    assert all(before <= r.processed_at <= utcnow() for r in rows)


async def test_a_rolled_back_update_stays_unmarked(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    with pytest.raises(RuntimeError):
        async with transaction(sessions) as session:
            await repo.mark_update(session=session, bot_id=1, update_id=11, kind="message")
            raise RuntimeError("handler failed")
    async with transaction(sessions) as session:
        assert await repo.mark_update(session=session, bot_id=1, update_id=11, kind="message")


async def test_member_upsert_follows_profile_changes(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    fields = {
        "id": 7,
        "username": "ann",
        "first_name": "Ann",
        "last_name": None,
        "language_code": "en",
        "is_bot": False,
    }
    async with transaction(sessions) as session:
        await repo.upsert_member(session=session, **fields)
    async with transaction(sessions) as session:
        await repo.upsert_member(session=session, **{**fields, "username": "ann_b"})
    async with sessions() as session:
        member = await session.get(Member, 7)
        assert member is not None
        assert member.username == "ann_b"
        assert member.created_at.tzinfo is not None


async def test_messages_and_memberships_are_recorded_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with transaction(sessions) as session:
        await repo.upsert_chat(
            session=session, id=-100, type="supergroup", title="G", username=None
        )
        await repo.ensure_membership(session=session, chat_id=-100, member_id=7)
        await repo.ensure_membership(session=session, chat_id=-100, member_id=7)
        for _ in range(2):
            await repo.record_message(
                session=session,
                chat_id=-100,
                message_id=1,
                member_id=7,
                update_id=5,
                kind="text",
                text_length=3,
                reply_to_message_id=None,
                sent_at=utcnow(),
            )
        await repo.set_bot_status(session=session, chat_id=-100, status="administrator")
        await repo.set_membership_status(session=session, chat_id=-100, member_id=7, status="left")
    async with sessions() as session:
        assert await repo.count_messages(session=session, chat_id=-100) == 1
        chat = await session.get(Chat, -100)
        membership = await session.get(Membership, (-100, 7))
        assert chat is not None
        assert chat.bot_status == "administrator"
        assert membership is not None
        assert membership.status == "left"
