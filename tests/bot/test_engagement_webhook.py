"""Scoring through the real webhook, on SQLite and PostgreSQL, with the bad inputs that must
earn nothing: edits, forwarded spam, chats the bot left, dates from the future, replays."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.gateway import create_app
from core.clock import utcnow
from core.migrate import upgrade
from core.settings import Settings
from tests.engagement.helpers_engagement import (
    BASE_DATE,
    bot_left_update,
    edited_update,
    join_update,
    ledger_rows,
    message,
    message_update,
    netted,
    reaction_update,
    user,
)

SECRET = "engagement-webhook-secret"
BOT_ID = 1000001  # the sandbox token's bot


@pytest.fixture
async def client(tmp_path: Path, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway_client(tmp_path / "gateway", database_url) as http:
        yield http


@asynccontextmanager
async def gateway_client(data_dir: Path, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        mode="sandbox", data_dir=data_dir, database_url=database_url, webhook_secret=SECRET
    )
    await asyncio.to_thread(upgrade, settings.effective_database_url)
    app = create_app(settings, register=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        http.app = app  # type: ignore[attr-defined]
        yield http
    await app.state.gateway.engine.dispose()


async def post(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    response = await client.post("/telegram/webhook", json=body, headers=headers)
    assert response.status_code == 200, response.text


async def rows(client: httpx.AsyncClient) -> list[Any]:
    return await ledger_rows(client.app.state.gateway.sessions)  # type: ignore[attr-defined]


async def points(client: httpx.AsyncClient) -> dict[int, int]:
    totals: dict[int, int] = {}
    for row in await rows(client):
        totals[row.member_id] = totals.get(row.member_id, 0) + row.points
    return {k: v for k, v in totals.items() if v}


async def test_messages_earn_once_however_often_delivered(client: httpx.AsyncClient) -> None:
    updates = [
        message_update(1, user_id=501, date=BASE_DATE, text="a first message of some length"),
        message_update(2, user_id=501, date=BASE_DATE + 10, text="too soon after the first one"),
        message_update(3, user_id=502, date=BASE_DATE + 20, text="someone else says something"),
        message_update(4, user_id=501, date=BASE_DATE + 90, text="and later a third message"),
    ]
    for update in [*updates, *reversed(updates), updates[0]]:
        await post(client, update)
    assert await points(client) == {501: 20, 502: 10}
    decisions = {(r.cause, r.rule) for r in await rows(client)}
    assert ("msg:2", "cooldown") in decisions


async def test_edits_earn_nothing_and_change_nothing(client: httpx.AsyncClient) -> None:
    await post(client, message_update(1, text="short"))
    before = [(r.cause, r.points) for r in await rows(client)]
    await post(client, edited_update(2, message_id=1, text="now edited into a long message text"))
    await post(client, edited_update(3, message_id=99, text="an edit of a message never seen"))
    assert [(r.cause, r.points) for r in await rows(client)] == before == [("msg:1", 0)]


@pytest.mark.parametrize(
    "origin",
    [
        {"type": "user", "date": BASE_DATE - 60, "sender_user": user(999)},
        {"type": "hidden_user", "date": BASE_DATE - 60, "sender_user_name": "Spam Bot"},
    ],
)
async def test_forwarded_spam_earns_nothing(
    client: httpx.AsyncClient, origin: dict[str, Any]
) -> None:
    spam = "Buy cheap tokens now, visit our channel for a limited offer"
    for i in range(1, 4):
        await post(client, message_update(i, user_id=500 + i, text=spam, forward_origin=origin))
    assert await points(client) == {}
    assert {r.rule for r in await rows(client)} == {"forwarded"}


async def test_links_stickers_and_emoji_earn_nothing(client: httpx.AsyncClient) -> None:
    sticker = {
        "file_id": "x",
        "file_unique_id": "y",
        "type": "regular",
        "width": 1,
        "height": 1,
        "is_animated": False,
        "is_video": False,
    }
    await post(client, message_update(1, text="https://example.com/some/long/path?x=1"))
    await post(client, message_update(2, text="🎉🎉🎉🔥🔥🔥👍👍👍", date=BASE_DATE + 100))
    await post(client, message_update(3, text=None, sticker=sticker, date=BASE_DATE + 200))
    await post(client, message_update(4, text="/notacommand of ours", date=BASE_DATE + 300))
    rules = {r.cause: r.rule for r in await rows(client)}
    assert rules == {"msg:1": "links_only", "msg:2": "emoji_only", "msg:3": "no_text"}


async def test_chats_the_bot_left_earn_nothing(client: httpx.AsyncClient) -> None:
    await post(client, message_update(1, text="before the bot was removed here"))
    await post(client, bot_left_update(2, bot_id=BOT_ID))
    await post(client, message_update(3, date=BASE_DATE + 600, text="after the bot was removed"))
    await post(client, reaction_update(4, message_id=1, user_id=777, date=BASE_DATE + 700))
    assert [r.cause for r in await rows(client)] == ["msg:1"]


async def test_a_date_from_the_future_counts_as_now(client: httpx.AsyncClient) -> None:
    before = utcnow().replace(microsecond=0)
    future = int(before.timestamp()) + 7 * 86_400
    await post(client, message_update(1, date=future, text="a message from next week, allegedly"))
    after = utcnow()
    (row,) = await rows(client)
    assert before <= row.occurred_at <= after
    assert row.points == 10


async def test_replies_and_reactions_credit_the_author(client: httpx.AsyncClient) -> None:
    original = message(1, user_id=501, text="what do you all think about it")
    await post(client, {"update_id": 1, "message": original})
    for i, replier in enumerate((502, 503, 501), start=2):
        await post(
            client,
            message_update(
                i,
                user_id=replier,
                date=BASE_DATE + 60 * i,
                text="I think it is a good idea",
                reply_to=original,
            ),
        )
    for i, reactor in enumerate((502, 504, 501), start=10):
        await post(client, reaction_update(i, message_id=1, user_id=reactor, date=BASE_DATE + i))
        await post(
            client, reaction_update(i + 10, message_id=1, user_id=reactor, old="👍", emoji="🔥")
        )
    credited = {(r.kind, r.actor_id) for r in await rows(client) if r.kind in ("reply", "reaction")}
    assert credited == {("reply", 502), ("reply", 503), ("reaction", 502), ("reaction", 504)}
    # 501: a message, a self-reply that earns as a message only, 2 replies and 2 reactions.
    assert (await points(client))[501] == 10 + 10 + 2 * 3 + 2 * 1


async def test_invited_members_credit_their_referrer_once_they_write(
    client: httpx.AsyncClient,
) -> None:
    await post(client, join_update(1, user_id=601, link_creator=user(501)))
    await post(
        client,
        join_update(2, user_id=602, link_creator=user(BOT_ID, bot=True), link_name="ref:503"),
    )
    await post(client, join_update(3, user_id=603, link_creator=user(603)))  # own link
    assert await points(client) == {}
    await post(client, message_update(4, user_id=601, text="hello, glad to be here"))
    await post(client, message_update(5, user_id=602, text="ok"))  # too short: not yet
    await post(client, message_update(6, user_id=603, text="hello from a self-invite"))
    invites = {(r.member_id, r.actor_id) for r in await rows(client) if r.kind == "invite"}
    assert invites == {(501, 601)}
    await post(
        client,
        message_update(
            7, user_id=602, text="now a proper message to everyone", date=BASE_DATE + 100
        ),
    )
    await post(
        client,
        message_update(8, user_id=601, text="and another one from me later", date=BASE_DATE + 200),
    )
    invites = sorted((r.member_id, r.actor_id) for r in await rows(client) if r.kind == "invite")
    assert invites == [(501, 601), (503, 602)]


async def test_concurrent_deliveries_score_as_one_by_one_in_date_order(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    """Updates that arrive together are recorded and scored in shared batches (several
    messages of one member among them, some delivered twice, in no particular order): each
    message's outcome is the one a delivery one by one in date order gives, on a database of
    its own (SQLite)."""
    texts = ["good morning everyone here", "what a lovely day it is", "good morning everyone here"]
    updates = [
        message_update(
            100 + 10 * member + i,
            user_id=600 + member,
            date=BASE_DATE + 25 * i,
            text=texts[i % len(texts)] if member % 2 else f"{texts[i % 2]} number {i}",
        )
        for member in range(6)
        for i in range(7)
    ]
    # The group's first message sets it up (rules, epoch) before the others arrive.
    first = message_update(99, user_id=700, date=BASE_DATE - 60)
    order = random.Random(7).sample(updates, len(updates))
    order += order[:9]  # delivered twice, in the same batches or later ones
    await post(client, first)
    await asyncio.gather(*(post(client, u) for u in order))
    one_by_one = f"sqlite+aiosqlite:///{tmp_path / 'reference.db'}"
    async with gateway_client(tmp_path / "reference", one_by_one) as reference:
        await post(reference, first)
        for update in sorted(updates, key=lambda u: (u["message"]["date"], u["update_id"])):
            await post(reference, update)
        expected = netted(await rows(reference))
    got = netted(await rows(client))
    assert got == expected
    assert len(got) == len(updates) + 1
    rules = {rule for _, _, _, rule in got.values()}
    assert {"message", "cooldown", "duplicate"} <= rules


async def deliver(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    """As Telegram delivers: again after an answer other than 200, until a 200."""
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    for _ in range(50):
        response = await client.post("/telegram/webhook", json=body, headers=headers)
        if response.status_code == 200:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(response.text)


def conversation(members: list[int], rounds: int) -> list[dict[str, Any]]:
    """Each member writes once a round (90 s apart: no cooldown); in odd rounds each replies to
    the next member's message of the round before, so replies cross between members; in even
    rounds the member two along reacts to each message."""
    rng = random.Random(5)
    letters = "abcdefghijklmnopqrstuvwxyz"
    sent: dict[tuple[int, int], dict[str, Any]] = {}
    updates: list[dict[str, Any]] = []
    update_id = 2000
    for i in range(rounds):
        for k, member in enumerate(members):
            update_id += 1
            words = ("".join(rng.choice(letters) for _ in range(6)) for _ in range(6))
            replied = sent.get((members[(k + 1) % len(members)], i - 1)) if i % 2 else None
            body = message(
                update_id,
                user_id=member,
                date=BASE_DATE + 90 * i + k,
                text=" ".join(words),
                reply_to=replied,
            )
            sent[(member, i)] = body
            updates.append({"update_id": update_id, "message": body})
    for i in range(0, rounds, 2):
        for k, member in enumerate(members):
            update_id += 1
            target = sent[(member, i)]
            reactor = members[(k + 2) % len(members)]
            updates.append(
                reaction_update(
                    update_id,
                    message_id=target["message_id"],
                    user_id=reactor,
                    date=target["date"] + 30,
                )
            )
    return updates


def sent_at(update: dict[str, Any]) -> int:
    event = update.get("message") or update["message_reaction"]
    return int(event["date"])


async def test_conversations_delivered_together_score_as_one_by_one(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    """Messages, replies that cross between members and reactions (some before their
    message), all delivered at once and some twice: on PostgreSQL in two batches in flight,
    which lock the same members' rows in turn. Every cause's outcome is the one a delivery one
    by one in date order gives."""
    updates = conversation([801, 802, 803, 804], rounds=12)
    first = message_update(1999, user_id=700, date=BASE_DATE - 60)
    order = random.Random(11).sample(updates, len(updates))
    order += order[:15]
    await deliver(client, first)
    await asyncio.gather(*(deliver(client, u) for u in order))
    one_by_one = f"sqlite+aiosqlite:///{tmp_path / 'reference.db'}"
    async with gateway_client(tmp_path / "reference", one_by_one) as reference:
        await deliver(reference, first)
        for update in sorted(updates, key=lambda u: (sent_at(u), u["update_id"])):
            await deliver(reference, update)
        expected = netted(await rows(reference))
    got = netted(await rows(client))
    assert got == expected
    kinds = {kind for _, _, kind, _ in got.values()}
    assert {"message", "reply", "reaction"} <= kinds
