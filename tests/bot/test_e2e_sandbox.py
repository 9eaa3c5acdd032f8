"""End to end: people act in the sandbox's web chat API, the bot answers through the real stack.

Path of every update: sandbox → HTTP webhook → aiogram middlewares → router → database; every
answer: aiogram → `TelegramAPIServer` over HTTP → the sandbox's Bot API.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bot.dispatcher import EXTRA_UPDATES
from bot.outgoing import OutgoingLimiter
from core.models import Chat, ChatMessage, Member, Membership
from core.settings import Settings
from tests.tests_support import wait_for


@pytest.fixture
def gateway_settings(gateway_settings: Settings) -> Settings:
    """A group limit low enough for the retry test to hit it with a short burst."""
    return gateway_settings.model_copy(update={"rate_chat_per_minute": 60})


@pytest.fixture
async def ui(gateway: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{gateway.base_url}/sandbox/ui", timeout=10) as http:
        await wait_for(lambda: webhook_registered(gateway), what="webhook registration")
        yield http


async def webhook_registered(gateway: Any) -> bool:
    info = await gateway.gateway.bot.get_webhook_info()
    return bool(info.url)


async def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


async def bot_says(ui: httpx.AsyncClient, chat_id: int, match: Callable[[str], bool]) -> dict:
    bot = await ok(await ui.get("/bot"))

    async def found() -> dict | None:
        for message in await ok(await ui.get(f"/chats/{chat_id}/messages")):
            if message.get("from", {}).get("id") == bot["id"] and match(message.get("text", "")):
                return message
        return None

    return await wait_for(found, what=f"a bot message in chat {chat_id}")


async def count(gateway: Any, model: Any, *where: Any) -> int:
    async with gateway.gateway.sessions() as session:
        stmt = select(func.count()).select_from(model)
        for clause in where:
            stmt = stmt.where(clause)
        return int((await session.exec(stmt)).one()[0])


async def test_start_and_help_in_private_chat(gateway: Any, ui: httpx.AsyncClient) -> None:
    ann = await ok(await ui.post("/users", json={"first_name": "Ann", "username": "ann"}))
    chat = await ok(await ui.post(f"/users/{ann['id']}/private"))
    await ok(
        await ui.post(
            f"/chats/{chat['id']}/messages", json={"from_id": ann["id"], "text": "/start"}
        )
    )
    hello = await bot_says(ui, chat["id"], lambda text: text.startswith("Hello, Ann!"))
    assert "/help" in hello["text"]
    await ok(
        await ui.post(f"/chats/{chat['id']}/messages", json={"from_id": ann["id"], "text": "/help"})
    )
    await bot_says(ui, chat["id"], lambda text: text.startswith("What I can do"))
    assert await count(gateway, Member, Member.id == ann["id"]) == 1


async def test_bot_speaks_the_members_language(ui: httpx.AsyncClient) -> None:
    li = await ok(await ui.post("/users", json={"first_name": "Li", "language_code": "zh-hans"}))
    chat = await ok(await ui.post(f"/users/{li['id']}/private"))
    await ok(
        await ui.post(f"/chats/{chat['id']}/messages", json={"from_id": li["id"], "text": "/start"})
    )
    await bot_says(ui, chat["id"], lambda text: text.startswith("你好，Li！"))


async def test_group_members_and_messages_are_recorded(gateway: Any, ui: httpx.AsyncClient) -> None:
    owner = await ok(await ui.post("/users", json={"first_name": "Olga"}))
    guest = await ok(await ui.post("/users", json={"first_name": "Gus"}))
    group = await ok(
        await ui.post(
            "/chats", json={"title": "Builders <3", "creator_id": owner["id"], "bot": "admin"}
        )
    )
    await bot_says(
        ui,
        group["id"],
        lambda text: (
            "Thanks for adding me to Builders &lt;3" in text
            or "Thanks for adding me to Builders <3" in text
        ),
    )
    await ok(await ui.post(f"/chats/{group['id']}/members", json={"user_id": guest["id"]}))
    first = await ok(
        await ui.post(
            f"/chats/{group['id']}/messages", json={"from_id": owner["id"], "text": "welcome, Gus"}
        )
    )
    await ok(
        await ui.post(
            f"/chats/{group['id']}/messages",
            json={"from_id": guest["id"], "text": "thanks!", "reply_to": first["message_id"]},
        )
    )

    async def both_recorded() -> bool:
        texts = await count(
            gateway, ChatMessage, ChatMessage.chat_id == group["id"], ChatMessage.kind == "text"
        )
        return texts == 2

    await wait_for(both_recorded, what="two recorded group messages")
    assert await count(gateway, Membership, Membership.chat_id == group["id"]) == 2
    async with gateway.gateway.sessions() as session:
        chat = await session.get(Chat, group["id"])
        reply = (
            await session.exec(
                select(ChatMessage).where(
                    ChatMessage.member_id == guest["id"], ChatMessage.kind == "text"
                )
            )
        ).one()[0]
    assert chat is not None
    assert chat.bot_status == "administrator"
    assert reply.reply_to_message_id == first["message_id"]


async def test_allowed_updates_include_admin_only_kinds(
    gateway: Any, ui: httpx.AsyncClient
) -> None:
    info = await gateway.gateway.bot.get_webhook_info()
    assert set(EXTRA_UPDATES) <= set(info.allowed_updates or [])
    assert "message" in (info.allowed_updates or [])
    # As many connections as Telegram allows: the gateway handles them in batches.
    assert info.max_connections == 100


async def test_outgoing_calls_honour_retry_after(gateway: Any, ui: httpx.AsyncClient) -> None:
    """Sending faster than the group allows: the sandbox answers 429, the limiter waits it out."""
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession

    from bot.dispatcher import api_server

    owner = await ok(await ui.post("/users", json={"first_name": "Rita"}))
    group = await ok(await ui.post("/chats", json={"title": "Busy", "creator_id": owner["id"]}))
    limiter = OutgoingLimiter(global_per_second=10_000, chat_per_minute=100_000)
    session = AiohttpSession(api=api_server(gateway.settings))
    session.middleware(limiter)
    bot = Bot(gateway.settings.bot_token.get_secret_value(), session=session)
    per_minute = int(gateway.settings.rate_chat_per_minute)
    try:
        sent = await asyncio.gather(
            *(bot.send_message(group["id"], f"burst {i}") for i in range(per_minute + 3))
        )
    finally:
        await bot.session.close()
    assert len({m.message_id for m in sent}) == per_minute + 3
    assert limiter.retries_honoured >= 1
