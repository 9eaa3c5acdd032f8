"""Campaigns, epochs, flag notices and self-deleting replies end to end: the whole gateway,
the sandbox's Bot API, and people acting through the web chat's API."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from bot.handlers import engagement as member_commands
from core.models_engagement import Epoch
from core.models_upkeep import PendingDeletion
from core.settings import Settings
from tests.bot.test_manage_sandbox import Town
from tests.bot.test_manage_sandbox import town as town  # noqa: PLC0414  (the shared fixture)
from tests.conftest import free_port, start_gateway

SPAM = "join the best airdrop now, only today"
REFUSED = "Only the group's administrators can do that."


@pytest.fixture
def gateway_settings(tmp_path: Path, database_url: str) -> Settings:
    """The whole gateway on SQLite and PostgreSQL, scanning for flags every half second."""
    return Settings(
        mode="sandbox",
        data_dir=tmp_path,
        database_url=database_url,
        port=free_port(),
        rate_chat_per_minute=600,
        rate_global_per_second=300,
        sybil_scan_interval=0.5,
        deletion_sweep_interval=0.5,
    )


async def epochs_of(town: Town) -> list[tuple[int, str]]:
    async with town.gateway.gateway.sessions() as session:
        found = await session.exec(
            select(Epoch.number, Epoch.state)
            .where(col(Epoch.chat_id) == town.group)
            .order_by(col(Epoch.number))
        )
        return [(int(n), str(s)) for n, s in found.all()]


async def spam_from_three(town: Town) -> None:
    await town.ui("POST", f"/chats/{town.group}/members", user_id=town.carol)
    for who in (town.alice, town.bob, town.carol):
        await town.say(who, SPAM)


async def until(check: Any, timeout: float = 15.0) -> Any:
    """Polls `check()` until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await check()
        if found or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.1)


async def test_non_admins_cannot_schedule(town: Town) -> None:
    await town.say(town.bob, "a first message that opens the default epoch")
    before_epochs = await epochs_of(town)
    before = await town.last_id()
    for command in ("/campaign spring", "/epoch open end=7d", "/epoch close", "/epochs"):
        await town.say(town.bob, command)
    assert await town.bot_says(after=before) == [REFUSED] * 4
    assert await epochs_of(town) == before_epochs == [(1, "open")]


async def test_campaigns_and_epochs_from_the_chat(town: Town) -> None:
    await town.say(town.bob, "a first message that opens the default epoch")
    before = await town.last_id()
    await town.say(town.alice, "/campaign spring end=7d")
    await town.say(town.alice, "/campaign spring")
    await town.say(town.alice, "/epoch open start=yesterday")
    await town.say(town.alice, "/epoch open start=2020-01-01")
    await town.say(town.alice, "/epoch fly")
    await town.say(town.alice, "/epochs")
    opened, exists, bad_time, too_early, usage, listed = await town.bot_says(after=before)
    assert opened.startswith("Epoch 2 of campaign spring is open: ")
    assert exists == "Not done: this group already has a campaign named spring."
    assert bad_time.startswith("Not done: “yesterday” is not a time")
    assert too_early.startswith("Not done: epoch 2 only started at ")
    assert usage.startswith("Campaigns and epochs (times in UTC")
    lines = listed.splitlines()
    assert lines[0] == "Epochs (UTC):"
    assert lines[1].startswith("• 1 · default · closed · 1970-01-01 00:00 → ")
    assert lines[2].startswith("• 2 · spring · open · ") and "no end" not in lines[2]

    # An epoch closes after the second it started in (the campaign opened epoch 2 at the date
    # of its message), or it would be empty: `/epoch close` in that same second is refused.
    await asyncio.sleep(1.1)
    before = await town.last_id()
    await town.say(town.alice, "/epoch close")
    await town.say(town.alice, "/epoch close")
    closed, nothing_open = await town.bot_says(after=before)
    assert closed.startswith("Epoch 2 is closed at ")
    assert nothing_open == "Not done: no epoch is open."
    # Telegram dates have whole seconds: a close takes effect at the next one, and a message
    # dated in the closing second still belongs to the closed epoch.
    await asyncio.sleep(1.1)
    rows = len(await town.rows())
    await town.say(town.bob, "a message while no epoch is open gets no points")
    assert len(await town.rows()) == rows
    await town.say(town.alice, "/epoch open")
    await asyncio.sleep(1.1)  # the new epoch starts where the last one ended, a whole second
    await town.say(town.bob, "and this one lands in the third epoch of spring")
    assert await epochs_of(town) == [(1, "closed"), (2, "closed"), (3, "open")]
    assert len(await town.rows()) == rows + 1


async def test_flags_reach_the_managers_once(town: Town) -> None:
    """The periodic scan finds the farmed pattern; the managers hear of it once, privately."""
    await town.ui("POST", f"/users/{town.alice}/private")
    await spam_from_three(town)

    async def notices() -> list[str]:
        return [t for t in await town.bot_says(town.alice) if "New sybil flags" in t]

    (notice,) = await until(notices)
    assert notice.startswith("New sybil flags in Town (3 members):")
    for name in ("Alice", "Bob", "Carol"):
        assert f"• {name} (" in notice
    assert "same text as other accounts" in notice
    await asyncio.sleep(1.5)  # three more scans: nothing new, nothing said
    assert len(await notices()) == 1
    # Bob is no manager: he is never told.
    await town.ui("POST", f"/users/{town.bob}/private")
    assert not [t for t in await town.bot_says(town.bob) if "New sybil flags" in t]


async def test_self_deleting_replies_survive_a_restart(
    gateway_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(member_commands, "REPLY_TTL", 2.0)
    running, server, task = await start_gateway(gateway_settings)
    try:
        async with httpx.AsyncClient(base_url=f"{running.base_url}/sandbox/ui", timeout=15) as http:
            world = Town(running, http, 0, 0, 0, 0)
            alice = await world.ui("POST", "/users", first_name="Alice", username="alice")
            chat = await world.ui(
                "POST", "/chats", title="Town", creator_id=alice["id"], bot="admin"
            )
            world.group, world.alice = chat["id"], alice["id"]
            await world.say(world.alice, "hello town, this is a scored message")
            before = await world.last_id()
            command_id = await world.say(world.alice, "/top")
            (top,) = await world.bot_says(after=before)
            assert top.startswith("Top members of Town")
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=15)
    await asyncio.sleep(2.5)  # the reply is due while the gateway is down
    running, server, task = await start_gateway(gateway_settings)
    try:
        async with httpx.AsyncClient(base_url=f"{running.base_url}/sandbox/ui", timeout=15) as http:
            world = Town(running, http, chat["id"], alice["id"], 0, 0)

            async def gone() -> bool:
                messages = await world.ui("GET", f"/chats/{world.group}/messages")
                deleted = {m["message_id"] for m in messages if m["sandbox"]["deleted"]}
                return command_id in deleted and await world.bot_says(after=before) == []

            # The start-up sweep deletes the reply together with the command it answered.
            assert await until(gone)

            async def forgotten() -> bool:
                async with running.gateway.sessions() as session:
                    return (await session.exec(select(PendingDeletion))).all() == []

            assert await until(forgotten)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=15)
