"""Member and manager commands end to end: the whole gateway, the sandbox's Bot API, and
people acting through the web chat's API. Admin rights come from Telegram (the sandbox)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.handlers import engagement as member_commands
from core.settings import Settings
from tests.conftest import RunningGateway, free_port, wants_chains
from tests.engagement.helpers_engagement import ledger_rows


@pytest.fixture
def gateway_settings(tmp_path: Path, database_url: str, request: pytest.FixtureRequest) -> Settings:
    """The whole gateway on SQLite and on PostgreSQL."""
    return Settings(
        mode="sandbox",
        data_dir=tmp_path,
        database_url=database_url,
        port=free_port(),
        rate_chat_per_minute=600,
        rate_global_per_second=300,
        sandbox_chains=wants_chains(request),
    )


@dataclass
class Town:
    gateway: RunningGateway
    http: httpx.AsyncClient
    group: int
    alice: int  # the group's creator
    bob: int
    carol: int

    async def ui(self, method: str, path: str, **body: Any) -> Any:
        response = await self.http.request(method, path, json=body or None)
        assert response.status_code == 200, response.text
        return response.json()

    async def say(self, who: int, text: str, *, reply_to: int | None = None) -> int:
        sent = await self.ui(
            "POST", f"/chats/{self.group}/messages", from_id=who, text=text, reply_to=reply_to
        )
        await self.gateway.sandbox.wait_idle(10)
        return int(sent["message_id"])

    async def bot_says(self, chat_id: int | None = None, *, after: int = 0) -> list[str]:
        messages = await self.ui("GET", f"/chats/{chat_id or self.group}/messages")
        return [
            m.get("text", "")
            for m in messages
            if m.get("from", {}).get("is_bot")
            and m["message_id"] > after
            and not m["sandbox"]["deleted"]
        ]

    async def last_id(self, chat_id: int | None = None) -> int:
        messages = await self.ui("GET", f"/chats/{chat_id or self.group}/messages")
        return max(int(m["message_id"]) for m in messages)

    async def rows(self) -> list[Any]:
        return await ledger_rows(self.gateway.gateway.sessions)


@pytest.fixture
async def town(gateway: RunningGateway) -> Any:
    async with httpx.AsyncClient(base_url=f"{gateway.base_url}/sandbox/ui", timeout=15) as http:
        world = Town(gateway, http, 0, 0, 0, 0)
        alice = await world.ui("POST", "/users", first_name="Alice", username="alice")
        bob = await world.ui("POST", "/users", first_name="Bob", username="bob")
        carol = await world.ui("POST", "/users", first_name="Carol", username="carol")
        group = await world.ui("POST", "/chats", title="Town", creator_id=alice["id"], bot="admin")
        world.group, world.alice, world.bob, world.carol = (
            group["id"],
            alice["id"],
            bob["id"],
            carol["id"],
        )
        await world.ui("POST", f"/chats/{world.group}/members", user_id=world.bob)
        await gateway.sandbox.wait_idle(10)
        yield world


MANAGER_COMMANDS = [
    "/setrules message.points=500",
    "/grant @bob 100 for nothing",
    "/penalize @alice 100 revenge",
    "/exclude @alice no reason",
    "/clear @bob",
    "/flags",
]


async def test_non_admins_cannot_manage(town: Town) -> None:
    before = await town.last_id()
    for command in MANAGER_COMMANDS:
        await town.say(town.bob, command)
    answers = await town.bot_says(after=before)
    assert answers == ["Only the group's administrators can do that."] * len(MANAGER_COMMANDS)
    assert not [r for r in await town.rows() if r.kind in ("grant", "penalty")]
    await town.say(town.bob, "/rules")
    assert "message.points = 10" in (await town.bot_says(after=before))[-1]


async def test_rules_change_and_bad_rules_leave_them_as_they_were(town: Town) -> None:
    before = await town.last_id()
    await town.say(town.alice, "/setrules message.points=5 message.cooldown_seconds=120")
    await town.say(town.alice, "/setrules message.points=-3 message.colour=blue")
    await town.say(town.alice, "/setrules oops")
    await town.say(town.alice, "/rules")
    saved, refused, malformed, shown = await town.bot_says(after=before)
    assert saved.startswith("Rules saved as version 2")
    assert "message.points: 10 → 5" in saved
    assert refused.startswith("Rules not changed (version 2 stays in force)")
    assert "message.points: Input should be greater than or equal to 0" in refused
    assert "message.colour: unknown setting" in refused
    assert "write key=value" in malformed
    assert "version 2" in shown and "message.points = 5" in shown
    await town.say(town.bob, "a message under the new rules of the group")
    assert [(r.points, r.rules_version) for r in await town.rows()] == [(5, 2)]


async def test_grants_penalties_and_points(town: Town, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(member_commands, "REPLY_TTL", 0.3)
    said = await town.say(town.bob, "my first message in this town, hello")
    before = await town.last_id()
    await town.say(town.alice, "/grant 50 welcomed the newcomers", reply_to=said)
    await town.say(town.alice, "/penalize @bob 20 posted spam links")
    await town.say(town.alice, "/grant @bob 0 nothing")
    await town.say(town.alice, "/grant @nobody 5 who")
    granted, penalized, zero, unknown = await town.bot_says(after=before)
    assert granted == "Bob receives 50 points: welcomed the newcomers"
    assert penalized == "Bob loses 20 points: posted spam links"
    assert zero.startswith("Not done") and unknown.startswith("Reply to the member's message")
    manual = [(r.kind, r.points, r.actor_id, r.reason) for r in await town.rows() if r.actor_id]
    assert manual == [
        ("grant", 50, town.alice, "welcomed the newcomers"),
        ("penalty", -20, town.alice, "posted spam links"),
    ]

    before = await town.last_id()
    await town.say(town.bob, "/points")  # Bob never wrote to the bot: a short group reply
    (short,) = await town.bot_says(after=before)
    assert short.startswith("Bob: 40 points (rank 1).")
    await asyncio.sleep(1.0)
    assert await town.bot_says(after=before) == [], "the group reply deletes itself"

    await town.ui("POST", f"/users/{town.bob}/private")
    await town.say(town.bob, "/points")
    private = await town.bot_says(town.bob)
    assert "Your points: 40 (rank 1)" in private[-1]
    assert "• grants from managers: 50" in private[-1]
    assert "• penalties: -20" in private[-1]


async def test_exclusion_is_explained_and_reversible(town: Town) -> None:
    await town.ui("POST", f"/users/{town.bob}/private")
    await town.say(town.bob, "a long enough message from Bob here")
    await town.ui("POST", f"/chats/{town.group}/members", user_id=town.carol)
    await town.say(town.carol, "and Carol says something as well")
    before = await town.last_id()
    await town.say(town.alice, "/exclude @bob farming reactions with a second account")
    await town.say(town.alice, "/exclude @carol")
    await town.say(town.bob, "/top")
    done, usage, top = await town.bot_says(after=before)
    assert done == "Bob is excluded from the allocation and was told why."
    assert usage.startswith("Reply to the member's message")
    assert "Bob" not in top and "Carol: 10" in top
    notice = (await town.bot_says(town.bob))[-1]
    assert "excluded you from the token allocation: farming reactions" in notice
    assert any(r.member_id == town.bob and r.points for r in await town.rows())

    await town.say(town.alice, "/clear @bob")
    await town.say(town.bob, "/top")
    top = (await town.bot_says())[-1]
    assert "Bob: 10" in top
    assert "cleared your account" in (await town.bot_says(town.bob))[-1]


async def test_promotion_is_seen_at_once(town: Town) -> None:
    before = await town.last_id()
    await town.say(town.bob, "/flags")
    await town.ui("POST", f"/chats/{town.group}/admins", user_id=town.bob)
    await town.gateway.sandbox.wait_idle(10)
    await town.say(town.bob, "/flags")
    refused, listed = await town.bot_says(after=before)
    assert refused == "Only the group's administrators can do that."
    assert listed == "No flagged members."


async def test_flags_show_identical_texts(town: Town) -> None:
    await town.ui("POST", f"/chats/{town.group}/members", user_id=town.carol)
    spam = "join the best airdrop now, only today"
    for who in (town.alice, town.bob, town.carol):
        await town.say(who, spam)
    before = await town.last_id()
    await town.say(town.alice, "/flags")
    (listed,) = await town.bot_says(after=before)
    assert listed.startswith("Flagged members")
    for name in ("Alice", "Bob", "Carol"):
        assert f"• {name} (" in listed
    assert "same text as other accounts (same text as 2 other accounts)" in listed


async def test_invite_links_credit_the_member(town: Town) -> None:
    await town.ui("POST", f"/users/{town.bob}/private")
    await town.say(town.bob, "/invite")
    dm = (await town.bot_says(town.bob))[-1]
    link = next(word for word in dm.split() if word.startswith("https://t.me/+"))
    await town.ui("POST", "/invite_links/use", user_id=town.carol, invite_link=link)
    await town.gateway.sandbox.wait_idle(10)
    assert not [r for r in await town.rows() if r.kind == "invite"]
    await town.say(town.carol, "thanks for the invitation, Bob!")
    invites = [(r.member_id, r.actor_id, r.points) for r in await town.rows() if r.kind == "invite"]
    assert invites == [(town.bob, town.carol, 20)]


async def test_the_member_is_told_in_their_own_language(town: Town) -> None:
    dan = await town.ui("POST", "/users", first_name="Dan", username="dan", language_code="zh")
    await town.ui("POST", f"/users/{dan['id']}/private")
    await town.ui("POST", f"/chats/{town.group}/members", user_id=dan["id"])
    await town.say(dan["id"], "大家好，我是新来的成员")
    before = await town.last_id()
    await town.say(town.alice, "/exclude @dan too many accounts")
    (answer,) = await town.bot_says(after=before)
    assert answer == "Dan is excluded from the allocation and was told why."
    notice = (await town.bot_says(dan["id"]))[-1]
    assert notice.startswith("Town 的管理员已将你排除在代币分配之外：too many accounts")
