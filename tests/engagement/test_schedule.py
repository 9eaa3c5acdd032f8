"""Managers' campaigns and epochs: the form (pure) and the changes on SQLite and PostgreSQL,
with the sybil scan that runs when an epoch closes and the once-only flag notices."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import repo
from core.db import create_engine, session_factory, transaction
from core.migrate import upgrade
from core.models_engagement import Campaign, Epoch, Flag, LedgerEntry
from engagement import epochs, flag_notices, schedule
from engagement.ingest import IncomingMessage, score_message
from engagement.schedule import ScheduleError, Window

CHAT = -1008900
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=1)
Sessions = async_sessionmaker[AsyncSession]


# The form ----------------------------------------------------------------------------------


def test_window_with_times_and_durations() -> None:
    assert schedule.parse_window([]) == Window()
    window = schedule.parse_window(["start=2026-11-20T09:00", "end=2026-12-01"])
    assert window.resolve(NOW) == (T0, datetime(2026, 12, 1, tzinfo=UTC))
    week = schedule.parse_window(["end=7d"]).resolve(NOW)
    assert week == (NOW, NOW + timedelta(days=7))
    assert schedule.whole_second(NOW - timedelta(microseconds=5)) == NOW
    assert schedule.parse_window(["start=2026-11-20", "end=90m"]).resolve(NOW)[1] == datetime(
        2026, 11, 20, 1, 30, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["tomorrow"], "bad_form"),
        (["start="], "bad_form"),
        (["begin=2026-11-20"], "unknown_key"),
        (["end=7d", "end=8d"], "repeated_key"),
        (["start=20/11/2026"], "bad_time"),
        (["end=0d"], "bad_time"),
        (["end=2026-02-30"], "bad_time"),
    ],
)
def test_bad_forms_are_named(args: list[str], code: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        schedule.parse_window(args)
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("start", "end", "code"),
    [
        (NOW + timedelta(minutes=1), None, "start_in_future"),
        (T0, T0, "end_before_start"),
        (T0, NOW - timedelta(seconds=1), "end_in_past"),
    ],
)
def test_bad_times_are_named(start: datetime, end: datetime | None, code: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        schedule.check_times(start, end, now=NOW)
    assert caught.value.code == code


@pytest.mark.parametrize("name", ["", "two words", "x" * 65, "<b>"])
def test_bad_campaign_names(name: str) -> None:
    with pytest.raises(ScheduleError, match="bad_name"):
        schedule.check_name(name)


# The changes -------------------------------------------------------------------------------


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[Sessions]:
    await asyncio.to_thread(upgrade, database_url)
    engine = create_engine(database_url)
    made = session_factory(engine)
    async with transaction(made) as session:
        await repo.upsert_chat(
            session=session, id=CHAT, type="supergroup", title="T", username=None
        )
    yield made
    await engine.dispose()


async def say(sessions: Sessions, n: int, at: datetime, *, member: int = 7, text: str = "") -> None:
    msg = IncomingMessage(
        chat_id=CHAT,
        message_id=n,
        member_id=member,
        update_id=20_000 + n,
        sent_at=at,
        text=text or f"message number {n} about the weather and the town",
    )
    async with transaction(sessions) as session:
        await repo.upsert_member(
            session=session,
            id=member,
            username=None,
            first_name=f"M{member}",
            last_name=None,
            language_code=None,
            is_bot=False,
        )
        await score_message(session=session, msg=msg)


async def opened(
    sessions: Sessions, *args: str, now: datetime = NOW, name: str | None = None
) -> Epoch:
    async with transaction(sessions) as session:
        return await schedule.open_epoch(
            session=session,
            chat_id=CHAT,
            window=schedule.parse_window(list(args)),
            now=now,
            campaign=name,
        )


async def refused(sessions: Sessions, *args: str, name: str | None = None) -> str:
    with pytest.raises(ScheduleError) as caught:
        await opened(sessions, *args, name=name)
    return caught.value.code


async def all_epochs(sessions: Sessions) -> list[tuple[int, str, datetime, datetime | None]]:
    async with sessions() as session:
        found = await epochs.listing(session=session, chat_id=CHAT)
    return [(e.number, e.state, e.starts_at, e.ends_at) for e in found]


async def test_a_campaign_opens_after_the_points_of_the_open_epoch(sessions: Sessions) -> None:
    await say(sessions, 1, T0)  # the group's default epoch 1 opens with its first message
    start = T0 + timedelta(hours=1)
    first = await opened(sessions, "start=2026-11-20T10:00", "end=7d", name="spring")
    assert (first.number, first.starts_at, first.ends_at) == (2, start, start + timedelta(days=7))
    assert await all_epochs(sessions) == [
        (1, "closed", epochs.rules_mod.SINCE_ALWAYS, start),
        (2, "open", start, start + timedelta(days=7)),
    ]
    async with sessions() as session:
        lines = await schedule.listing(session=session, chat_id=CHAT)
        names = (await session.exec(select(Campaign.name).order_by(Campaign.id))).all()
    assert [(line.number, line.campaign) for line in lines] == [(1, "default"), (2, "spring")]
    assert list(names) == ["default", "spring"]
    # The next epoch continues the campaign, from now.
    second = await opened(sessions)
    assert (second.number, second.campaign_id, second.starts_at) == (3, first.campaign_id, NOW)


async def test_refusals_change_nothing(sessions: Sessions) -> None:
    await say(sessions, 1, T0)
    await opened(sessions, "start=2026-11-20T10:00", name="spring")
    before = await all_epochs(sessions)
    await say(sessions, 2, T0 + timedelta(hours=3))
    assert await refused(sessions, name="spring") == "campaign_exists"
    assert await refused(sessions, "start=2026-11-20T11:00") == "points_after"
    assert await refused(sessions, "start=2026-11-20T09:30") == "before_current"
    assert await refused(sessions, "start=2026-11-22T09:01") == "start_in_future"
    assert await refused(sessions, "start=2026-11-21T07:00", "end=1h") == "end_in_past"
    assert await refused(sessions, "end=2026-11-21T08:00") == "end_before_start"
    assert await refused(sessions, name="two words") == "bad_name"
    assert await all_epochs(sessions) == before
    async with sessions() as session:
        assert len((await session.exec(select(Campaign))).all()) == 2


async def test_close_stops_points_and_a_new_epoch_cannot_overlap(sessions: Sessions) -> None:
    await say(sessions, 1, T0)
    async with transaction(sessions) as session:
        closed = await schedule.close_epoch(
            session=session, chat_id=CHAT, now=NOW, at=T0 + timedelta(hours=1)
        )
    assert (closed.state, closed.ends_at) == ("closed", T0 + timedelta(hours=1))
    with pytest.raises(ScheduleError, match="no_open_epoch"):
        async with transaction(sessions) as session:
            await schedule.close_epoch(session=session, chat_id=CHAT, now=NOW)
    assert await refused(sessions, "start=2026-11-20T09:30") == "overlaps"
    reopened = await opened(sessions, "start=2026-11-20T12:00", "end=2026-11-30")
    assert reopened.number == 2
    await say(sessions, 2, T0 + timedelta(hours=2))  # between the epochs: lands nowhere
    await say(sessions, 3, T0 + timedelta(hours=4))
    async with sessions() as session:
        rows = (await session.exec(select(LedgerEntry.message_id, LedgerEntry.epoch_id))).all()
    assert sorted(rows) == [(1, closed.id), (3, reopened.id)]


async def test_closing_in_the_future_or_past_points_is_refused(sessions: Sessions) -> None:
    await say(sessions, 1, T0 + timedelta(hours=3))
    for at, code in ((NOW + timedelta(hours=1), "close_in_future"), (T0, "points_after")):
        with pytest.raises(ScheduleError) as caught:
            async with transaction(sessions) as session:
                await schedule.close_epoch(session=session, chat_id=CHAT, now=NOW, at=at)
        assert caught.value.code == code
    assert [state for _, state, _, _ in await all_epochs(sessions)] == ["open"]


async def test_closing_scans_and_managers_are_told_once(sessions: Sessions) -> None:
    spam = "join the best airdrop now, only today"
    for n, member in enumerate((11, 12, 13), start=1):
        await say(sessions, n, T0 + timedelta(minutes=n), member=member, text=spam)
    async with sessions() as session:
        assert (await session.exec(select(Flag))).all() == []
        assert await flag_notices.pending_chats(session=session) == []
    async with transaction(sessions) as session:
        await schedule.close_epoch(session=session, chat_id=CHAT, now=NOW)
    async with sessions() as session:
        flagged = (await session.exec(select(Flag.member_id, Flag.code))).all()
        assert sorted(flagged) == [(m, "identical_text") for m in (11, 12, 13)]
        assert await flag_notices.pending_chats(session=session) == [CHAT]
    async with transaction(sessions) as session:
        told = await flag_notices.claim(session=session, chat_id=CHAT)
    assert [(f.member_id, f.name, f.code) for f in told] == [
        (11, "M11", "identical_text"),
        (12, "M12", "identical_text"),
        (13, "M13", "identical_text"),
    ]
    async with transaction(sessions) as session:
        assert await flag_notices.claim(session=session, chat_id=CHAT) == []
        assert await flag_notices.pending_chats(session=session) == []


async def test_two_claims_at_once_tell_one_batch(sessions: Sessions) -> None:
    async with transaction(sessions) as session:
        for member in (21, 22):
            session.add(Flag(chat_id=CHAT, member_id=member, code="burst", first_at=T0))
    first = await claim_in(sessions)
    async with transaction(sessions) as session:
        later = T0 + timedelta(hours=1)
        session.add(Flag(chat_id=CHAT, member_id=23, code="burst", first_at=later))
    # Two processes read the same watermark; only the one whose guarded write lands tells
    # (on SQLite the other may instead fail to write, which the upkeep retries later).
    outcomes = await asyncio.gather(claim_in(sessions), claim_in(sessions), return_exceptions=True)
    told = [o for o in outcomes if isinstance(o, list) and o]
    assert len(first) == 2
    assert [[f.member_id for f in batch] for batch in told] == [[23]]
    assert await claim_in(sessions) == []


async def claim_in(sessions: Sessions) -> list[flag_notices.NewFlag]:
    async with transaction(sessions) as session:
        return await flag_notices.claim(session=session, chat_id=CHAT)
