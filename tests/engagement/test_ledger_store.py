"""The ledger on SQLite and PostgreSQL: idempotent credits, cache == sum, late messages,
epochs, rule versions, exclusion, export."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select as orm_select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import repo
from core.db import transaction
from core.models_engagement import LedgerEntry, Score
from engagement import board, epochs, grants, interactions, ledger, review, rules
from tests.engagement.helpers_engagement import TEXTS, group_sessions, post

CHAT = -1008800
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[Sessions]:
    async with group_sessions(database_url, CHAT) as made:
        yield made


async def say(
    sessions: Sessions, message_id: int, seconds: int, *, member: int = 7, text: str | None = None
) -> ledger.Entry | None:
    return await post(
        sessions,
        chat_id=CHAT,
        message_id=message_id,
        member_id=member,
        sent_at=T0 + timedelta(seconds=seconds),
        text=text or TEXTS[message_id % len(TEXTS)],
    )


async def check_cache(sessions: Sessions) -> dict[int, int]:
    """The score cache equals the ledger's sums, member by member, epoch by epoch."""
    async with sessions() as session:
        by_ledger = await session.exec(  # type: ignore[call-overload]
            select(
                LedgerEntry.epoch_id, LedgerEntry.member_id, func.sum(LedgerEntry.points)
            ).group_by(LedgerEntry.epoch_id, LedgerEntry.member_id)
        )
        summed = {(e, m): int(p) for e, m, p in by_ledger.all()}
        cached = await session.exec(select(Score.epoch_id, Score.member_id, Score.points))  # type: ignore[call-overload]
        cache = {(e, m): int(p) for e, m, p in cached.all()}
    assert {k: v for k, v in cache.items() if v} == {k: v for k, v in summed.items() if v}
    return {m: p for (_, m), p in summed.items()}


async def test_messages_are_judged_and_the_cache_equals_the_sum(sessions: Sessions) -> None:
    for i in range(6):
        await say(sessions, i + 1, i * 30)  # every 30 s: one in two is in cooldown
    totals = await check_cache(sessions)
    assert totals == {7: 30}
    async with sessions() as session:
        epoch = await epochs.current(session=session, chat_id=CHAT)
        assert epoch is not None and epoch.id is not None
        detail = await board.breakdown(session=session, epoch_id=epoch.id, member_id=7)
    assert detail.by_kind == {"message": 30}
    assert detail.counted_messages == 3
    assert detail.not_counted == {"cooldown": 3}


async def test_a_late_message_corrects_the_later_ones(sessions: Sessions) -> None:
    await say(sessions, 2, 40)
    await say(sessions, 3, 100)
    assert await check_cache(sessions) == {7: 20}
    await say(sessions, 1, 0)  # dated first, delivered last: message 2 falls into its cooldown
    assert await check_cache(sessions) == {7: 20}
    async with sessions() as session:
        rows = (await session.exec(orm_select(LedgerEntry).order_by(LedgerEntry.id))).all()  # type: ignore[arg-type]
    corrections = [(r.cause, r.revision, r.rule, r.points) for r in rows if r.revision]
    assert corrections == [("msg:2", 1, "cooldown", -10)]


async def test_append_is_idempotent(sessions: Sessions) -> None:
    entry = await say(sessions, 1, 0)
    assert entry is not None
    for _ in range(3):
        async with transaction(sessions) as session:
            assert await ledger.append(session=session, entries=[entry]) == []
    assert await check_cache(sessions) == {7: 10}


async def test_concurrent_messages_of_one_member_respect_the_cooldown(sessions: Sessions) -> None:
    await say(sessions, 1, 0)
    await asyncio.gather(*(say(sessions, i, 100 + i) for i in range(2, 8)))
    # They may be judged in any order; one that arrives before a later-dated one already credited
    # takes its place, and the later one is revised to nothing. What counts is the net per message.
    async with sessions() as session:
        net = await session.exec(  # type: ignore[call-overload]
            select(LedgerEntry.cause, func.sum(LedgerEntry.points)).group_by(LedgerEntry.cause)
        )
        credited = sorted(cause for cause, points in net.all() if points)
    assert credited == ["msg:1", "msg:2"]
    assert await check_cache(sessions) == {7: 20}


async def test_points_land_in_the_epoch_of_their_date(sessions: Sessions) -> None:
    await say(sessions, 1, 0)
    async with transaction(sessions) as session:
        closed, following = await epochs.close(
            session=session, chat_id=CHAT, at=T0 + timedelta(hours=1)
        )
    assert following is not None and following.number == 2
    assert closed.rules and closed.rules[0]["version"] == 1
    assert await say(sessions, 2, 2 * 3600) is not None  # in epoch 2
    assert await say(sessions, 3, 600) is None  # dated in the closed epoch: not credited
    async with sessions() as session:
        assert await ledger.sums(session=session, epoch_id=closed.id or 0) == {7: 10}
        assert await ledger.sums(session=session, epoch_id=following.id or 0) == {7: 10}
    async with transaction(sessions) as session:
        published = await epochs.publish(session=session, chat_id=CHAT, number=1)
        assert published.state == "published"
        with pytest.raises(epochs.EpochError):
            await epochs.publish(session=session, chat_id=CHAT, number=2)


async def test_rule_versions_apply_by_date(sessions: Sessions) -> None:
    await say(sessions, 1, 0)
    async with transaction(sessions) as session:
        _, current = await rules.current(session=session, chat_id=CHAT)
        changed = rules.apply_changes(current, {"message.points": "3"})
        row = await rules.set_rules(session=session, chat_id=CHAT, rules=changed, by=1)
    assert row.version == 2
    later = await say(sessions, 2, int((row.effective_at - T0).total_seconds()) + 2)
    assert later is not None and (later.points, later.rules_version) == (3, 2)
    late_old = await say(sessions, 3, 120)  # dated before the change: the old version
    assert late_old is not None and (late_old.points, late_old.rules_version) == (10, 1)
    async with sessions() as session:
        epoch = await epochs.current(session=session, chat_id=CHAT)
        assert epoch is not None
        in_force = await epochs.rules_in_force(
            session=session, chat_id=CHAT, starts_at=epoch.starts_at, ends_at=None
        )
    assert [r["version"] for r in in_force] == [1, 2]


async def test_interactions_grants_exclusion_and_leaderboard(sessions: Sessions) -> None:
    await say(sessions, 1, 0, member=7)
    await say(sessions, 2, 5, member=8)
    async with transaction(sessions) as session:
        await repo.record_message(
            session=session,
            chat_id=CHAT,
            message_id=1,
            member_id=7,
            update_id=1,
            kind="text",
            text_length=30,
            reply_to_message_id=None,
            sent_at=T0,
        )
        for reactor in (8, 9, 10, 7):
            await interactions.credit(
                session=session,
                chat_id=CHAT,
                message_id=1,
                kind="reaction",
                author_id=7,
                target_sent_at=T0,
                actor_id=reactor,
                at=T0 + timedelta(seconds=reactor),
                update_id=500 + reactor,
            )
        await grants.manual(
            session=session,
            chat_id=CHAT,
            member_id=8,
            points=50,
            by=1,
            reason="great talk",
            update_id=900,
            at=T0 + timedelta(minutes=5),
        )
        await grants.manual(
            session=session,
            chat_id=CHAT,
            member_id=8,
            points=50,
            by=1,
            reason="again?",
            update_id=900,
            at=T0 + timedelta(minutes=5),
        )
        with pytest.raises(grants.GrantError):
            await grants.manual(
                session=session,
                chat_id=CHAT,
                member_id=8,
                points=5,
                by=1,
                reason=" ",
                update_id=901,
            )
        with pytest.raises(grants.GrantError):
            await grants.manual(
                session=session,
                chat_id=CHAT,
                member_id=8,
                points=10**6,
                by=1,
                reason="x",
                update_id=902,
            )
    assert await check_cache(sessions) == {7: 13, 8: 60}
    async with transaction(sessions) as session:
        epoch = await epochs.current(session=session, chat_id=CHAT)
        assert epoch is not None and epoch.id is not None
        top = await board.leaderboard(session=session, epoch_id=epoch.id, chat_id=CHAT)
        assert [(s.member_id, s.points) for s in top] == [(8, 60), (7, 13)]
        assert await board.rank(session=session, epoch_id=epoch.id, chat_id=CHAT, points=13) == 2
        await review.decide(
            session=session, chat_id=CHAT, member_id=8, status=review.EXCLUDED, by=1, reason="farm"
        )
        top = await board.leaderboard(session=session, epoch_id=epoch.id, chat_id=CHAT)
        assert [s.member_id for s in top] == [7]
        assert await board.rank(session=session, epoch_id=epoch.id, chat_id=CHAT, points=13) == 1
        assert await board.allocation_scores(session=session, epoch_id=epoch.id, chat_id=CHAT) == {
            7: 13
        }
        assert await ledger.sums(session=session, epoch_id=epoch.id) == {7: 13, 8: 60}
        exported = [row async for row in ledger.export(session=session, chat_id=CHAT, epoch=epoch)]
    causes = {row["cause"] for row in exported}
    assert {
        "msg:1",
        "msg:2",
        "reaction:1:8",
        "reaction:1:9",
        "reaction:1:10",
        "manual:900",
    } == causes
    assert all(row["epoch"] == 1 for row in exported)
    assert next(r for r in exported if r["cause"] == "manual:900")["reason"] == "great talk"


async def test_the_member_summary_follows_every_new_row(sessions: Sessions) -> None:
    """Each new row (a message, then a late one that turns an earlier message into a cooldown
    correction) shows in the next read of the member's summary."""
    await say(sessions, 2, 40)
    async with sessions() as session:
        epoch = await epochs.current(session=session, chat_id=CHAT)
        assert epoch is not None and epoch.id is not None
        first = await board.summary(session=session, epoch_id=epoch.id, member_id=7)
    assert (first.breakdown.counted_messages, first.breakdown.not_counted) == (1, {})
    await say(sessions, 3, 100)
    async with sessions() as session:
        second = await board.summary(session=session, epoch_id=epoch.id, member_id=7)
    assert second.breakdown.counted_messages == 2
    assert [(r.rule, r.points, r.entries) for r in second.by_rule] == [("message", 20, 2)]
    await say(sessions, 1, 0)  # message 2 falls into the cooldown of this earlier one
    async with sessions() as session:
        third = await board.summary(session=session, epoch_id=epoch.id, member_id=7)
    assert third.breakdown.counted_messages == 2
    assert third.breakdown.not_counted == {"cooldown": 1}
    assert [(r.rule, r.points, r.entries) for r in third.by_rule] == [
        ("message", 30, 3),
        ("cooldown", -10, 1),
    ]
