"""The rules preview: an epoch judged again under other rules, by hand on plain data and from
the real ledger on SQLite and PostgreSQL (unchanged rules give the ledger's own scores)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from core import repo
from core.db import create_engine, session_factory, transaction
from core.migrate import upgrade
from engagement import epochs, grants, interactions, preview, rules
from engagement.ingest import IncomingMessage, score_message
from engagement.scoring import MessageFacts

CHAT = -1008900
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
TEXTS = [
    "good morning everyone, coffee time",
    "did anybody read the release notes yet",
    "I think the new version fixes the bug",
    "let us meet on Thursday to discuss it",
    "the documentation needs more examples",
    "who wants to review my pull request",
]
ANN, BEN, CAT = 7, 8, 9
Sessions = async_sessionmaker[AsyncSession]


def changed(**dotted: object) -> rules.Rules:
    return rules.apply_changes(rules.DEFAULT_RULES, {k: str(v) for k, v in dotted.items()})


def test_hand_computed_preview() -> None:
    ts = 1_800_000_000
    # Ann writes at 0 s, 30 s and 90 s, and once before the epoch (-20 s), which only sets
    # her state. Under 4 points and no cooldown each of the three earns 4: 12.
    messages = [
        preview.JudgedMessage(ANN, MessageFacts(1, ts - 20, 0x1111), counts=False),
        preview.JudgedMessage(ANN, MessageFacts(2, ts, 0xF0F0_0000)),
        preview.JudgedMessage(ANN, MessageFacts(3, ts + 30, 0x0F0F_0000_0000)),
        preview.JudgedMessage(ANN, MessageFacts(4, ts + 90, 0xFFFF_0000_0000_0000)),
        preview.JudgedMessage(BEN, MessageFacts(5, ts, 0, "too_short")),
    ]
    # Four reactions on Ann's message: the cap of 2 keeps Ben (earliest) and Cat (tie on
    # date with 12, lower id first); the one dated in the next epoch never counts here.
    reactions = preview.Interactions(
        "reaction",
        ANN,
        {BEN: (ts + 5, 1), CAT: (ts + 9, 1), 12: (ts + 9, 1), 13: (ts + 100_000, 2)},
    )
    reply = preview.Interactions("reply", BEN, {ANN: (ts + 40, 1)})
    credits = [
        preview.Credit(BEN, "grant", "grant", 7),
        preview.Credit(CAT, "invite", "invite", 20),
        preview.Credit(CAT, "app", "app:quiz", 5),
        preview.Credit(CAT, "app", "app:poll", 3),
    ]
    proposed = changed(
        **{
            "message.points": 4,
            "message.cooldown_seconds": 0,
            "interactions.reaction_points": 3,
            "interactions.max_per_message": 2,
            "interactions.reply_points": 0,
            "invite.points": 50,
            "app_events.quiz": 11,
        }
    )
    result = preview.recompute(
        proposed,
        epoch_id=1,
        before={ANN: 23, BEN: 10, CAT: 28},
        before_by_kind={"message": 20, "reaction": 3, "reply": 3, "grant": 7, "invite": 20},
        messages=messages,
        interactions=[reactions, reply],
        credits=credits,
    )
    # Ann: 3 messages x 4 + 2 counted reactions x 3 = 18. Ben: grant 7, reply priced 0.
    # Cat: invite 50 + quiz 11 + poll (not in the proposed rules) 0 = 61.
    assert [(m.member_id, m.before, m.after, m.delta) for m in result.members] == [
        (CAT, 28, 61, 33),
        (ANN, 23, 18, -5),
        (BEN, 10, 7, -3),
    ]
    assert (result.total_before, result.total_after) == (61, 86)
    assert result.by_kind_after == {
        "app": 11,
        "grant": 7,
        "invite": 50,
        "message": 12,
        "reaction": 6,
        "reply": 0,
    }
    assert result.by_kind_before["message"] == 20


def test_caveats_name_what_cannot_be_judged_again() -> None:
    assert preview.caveats(rules.DEFAULT_RULES, changed(**{"message.points": 3})) == []
    notes = preview.caveats(
        rules.DEFAULT_RULES, changed(**{"message.min_length": 3, "app_events.quiz": 4})
    )
    assert [n.split(":")[0] for n in notes] == ["message.min_length", "app_events"]


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


async def say(sessions: Sessions, message_id: int, seconds: int, member: int = ANN) -> None:
    msg = IncomingMessage(
        chat_id=CHAT,
        message_id=message_id,
        member_id=member,
        update_id=10_000 + message_id,
        sent_at=T0 + timedelta(seconds=seconds),
        text=TEXTS[message_id % len(TEXTS)],
    )
    async with transaction(sessions) as session:
        await score_message(session=session, msg=msg)


async def react(sessions: Sessions, actor: int, seconds: int) -> None:
    async with transaction(sessions) as session:
        await interactions.credit(
            session=session,
            chat_id=CHAT,
            message_id=1,
            kind="reaction",
            author_id=ANN,
            target_sent_at=T0,
            actor_id=actor,
            at=T0 + timedelta(seconds=seconds),
            update_id=20_000 + actor,
        )


async def run_preview(sessions: Sessions, proposed: rules.Rules) -> preview.Preview:
    async with sessions() as session:
        epoch = await epochs.current(session=session, chat_id=CHAT)
        assert epoch is not None
        data = await preview.inputs(session=session, epoch=epoch)
    return preview.recompute_inputs(proposed, data)


async def test_preview_from_the_ledger(sessions: Sessions) -> None:
    for i in range(6):
        await say(sessions, i + 1, i * 30)  # every 30 s: one in two is in cooldown
    await react(sessions, BEN, 200)
    await react(sessions, CAT, 300)
    async with transaction(sessions) as session:
        await grants.manual(
            session=session, chat_id=CHAT, member_id=BEN, points=9, by=1, reason="x", update_id=5
        )
    same = await run_preview(sessions, rules.DEFAULT_RULES)
    # Defaults: 3 earning messages x 10 + 2 reactions x 1 for Ann; Ben's grant stays.
    assert [(m.member_id, m.before, m.after) for m in same.members] == [(ANN, 32, 32), (BEN, 9, 9)]
    assert same.by_kind_after == same.by_kind_before

    proposed = changed(
        **{
            "message.points": 4,
            "message.cooldown_seconds": 0,
            "interactions.reaction_points": 5,
            "interactions.max_per_message": 1,
        }
    )
    result = await run_preview(sessions, proposed)
    # Every message earns 4 (6 x 4); only Ben's earlier reaction counts, at 5.
    assert [(m.member_id, m.before, m.after) for m in result.members] == [
        (ANN, 32, 29),
        (BEN, 9, 9),
    ]
    assert (result.total_before, result.total_after) == (41, 38)
