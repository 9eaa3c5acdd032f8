"""Update delivery: getUpdates offsets and long polling, webhooks with retries, and a real
aiogram Bot talking to the sandbox over HTTP."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from bot.sandbox import state
from bot.sandbox.app import Sandbox, sandbox_database_url
from core.settings import Settings
from tests.bot.sandbox.conftest import BOT_ID, BOTH_DATABASES, TOKEN, free_port, serve, shutdown

SECRET = "s3cret-Token_1"


async def say(act: Any, world: Any, text: str) -> dict[str, Any]:
    return await act(
        state.send_message, chat_id=world["group"]["id"], from_id=world["bob"]["id"], text=text
    )


def texts(found: list[dict[str, Any]]) -> list[str]:
    return [u["message"]["text"] for u in found if "message" in u and "text" in u["message"]]


@BOTH_DATABASES
async def test_get_updates_confirms_below_offset(api: Any, act: Any, world: Any) -> None:
    first = await api("getUpdates")
    assert [u["update_id"] for u in first] == list(range(1, len(first) + 1))
    await say(act, world, "one")
    await say(act, world, "two")
    pending = await api("getUpdates", offset=first[-1]["update_id"] + 1)
    assert texts(pending) == ["one", "two"]
    assert texts(await api("getUpdates", limit=1)) == ["one"]
    # Asking again without a higher offset returns the same updates: nothing is lost.
    assert await api("getUpdates") == pending
    assert await api("getUpdates", offset=pending[1]["update_id"]) == pending[1:]
    assert await api("getUpdates", offset=pending[1]["update_id"] + 1) == []


async def test_negative_offset_keeps_only_the_newest(api: Any, act: Any, world: Any) -> None:
    for text in ("a", "b", "c"):
        await say(act, world, text)
    assert texts(await api("getUpdates", offset=-1)) == ["c"]
    assert texts(await api("getUpdates")) == ["c"]


async def test_long_poll_returns_as_soon_as_an_update_arrives(
    api: Any, act: Any, sandbox: Sandbox, world: Any
) -> None:
    # No periodic re-check within the test's time: only the commit's wake-up can end the wait.
    sandbox.poll_interval = 30
    backlog = await api("getUpdates")
    offset = backlog[-1]["update_id"] + 1
    started = time.monotonic()
    assert await api("getUpdates", offset=offset, timeout=1) == []
    assert 0.9 <= time.monotonic() - started < 3
    poll = asyncio.create_task(api("getUpdates", offset=offset, timeout=10))
    await asyncio.sleep(0.2)
    assert not poll.done()
    started = time.monotonic()
    await say(act, world, "wake up")
    assert texts(await asyncio.wait_for(poll, 5)) == ["wake up"]
    assert time.monotonic() - started < 1


async def test_a_newer_poll_ends_the_older_one(api: Any, raw: Any, world: Any) -> None:
    backlog = await api("getUpdates")
    offset = backlog[-1]["update_id"] + 1
    older = asyncio.create_task(raw("getUpdates", offset=offset, timeout=5))
    await asyncio.sleep(0.2)
    assert await api("getUpdates", offset=offset, timeout=0) == []
    response = await asyncio.wait_for(older, 5)
    assert response.status_code == 409
    assert "terminated by other getUpdates request" in response.json()["description"]


@BOTH_DATABASES
async def test_update_ids_survive_a_restart(
    api: Any, act: Any, world: Any, sessions: Any, settings: Any
) -> None:
    before = await api("getUpdates")
    await api("getUpdates", offset=before[-1]["update_id"] + 1)
    fresh = Sandbox(sessions=sessions, settings=settings)
    await fresh.ensure_bot(TOKEN)
    await say(act, world, "after restart")
    [update] = await api("getUpdates")
    assert update["update_id"] == before[-1]["update_id"] + 1
    await fresh.stop()


class Receiver:
    """A webhook endpoint that answers with scripted statuses and records what it got."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.received: list[tuple[int, str | None]] = []
        self.app = FastAPI()

        @self.app.post("/hook")
        async def hook(request: Request) -> JSONResponse:
            update = await request.json()
            status = self.statuses.pop(0) if self.statuses else 200
            secret = request.headers.get("x-telegram-bot-api-secret-token")
            self.received.append((update["update_id"], secret))
            return JSONResponse({"ok": status == 200}, status_code=status)


@BOTH_DATABASES
async def test_webhook_delivery_in_order_with_retries_after_500(
    api: Any, raw: Any, act: Any, sandbox: Sandbox, world: Any
) -> None:
    receiver = Receiver([200, 500, 500])
    server, task, base = await serve(receiver.app)
    try:
        pending = await api("getUpdates")
        assert await api("setWebhook", url=f"{base}/hook", secret_token=SECRET) is True
        conflict = await raw("getUpdates")
        assert conflict.status_code == 409 and "webhook is active" in conflict.json()["description"]
        await sandbox.start()
        await say(act, world, "late")
        await sandbox.wait_idle(10)
        ids = [update_id for update_id, _ in receiver.received]
        expected = [u["update_id"] for u in pending] + [pending[-1]["update_id"] + 1]
        # The second update failed twice and was sent again: the same id three times, in place.
        assert ids == expected[:1] + [expected[1]] * 3 + expected[2:]
        assert {secret for _, secret in receiver.received} == {SECRET}
        info = await api("getWebhookInfo")
        assert info["pending_update_count"] == 0 and info["url"] == f"{base}/hook"
        assert (
            info["last_error_message"]
            == "Wrong response from the webhook: 500 Internal Server Error"
        )
        # Once acknowledged, nothing is sent again.
        await asyncio.sleep(0.3)
        assert await sandbox.deliver_pending() == 0
        assert len(receiver.received) == len(ids)
    finally:
        await shutdown(server, task)


async def test_webhook_retries_after_a_connection_error(
    api: Any, act: Any, sandbox: Sandbox, world: Any
) -> None:
    port = free_port()
    pending = await api("getUpdates")
    await api("setWebhook", url=f"http://127.0.0.1:{port}/hook")
    assert await sandbox.deliver_pending() == 0
    info = await api("getWebhookInfo")
    assert info["last_error_message"].startswith("Connection failed")
    assert info["pending_update_count"] == len(pending)
    receiver = Receiver()
    server, task, _ = await serve(receiver.app, port=port)
    try:
        assert await sandbox.deliver_pending() == len(pending)
        assert [i for i, _ in receiver.received] == [u["update_id"] for u in pending]
        assert receiver.received[0][1] is None
        assert await sandbox.deliver_pending() == 0
    finally:
        await shutdown(server, task)


async def test_in_process_transport_and_drop_pending(
    api: Any, act: Any, sandbox: Sandbox, world: Any
) -> None:
    receiver = Receiver()
    sandbox.delivery.transport = httpx.ASGITransport(app=receiver.app)
    await api("setWebhook", url="http://receiver.test/hook", drop_pending_updates=True)
    assert (await api("getWebhookInfo"))["pending_update_count"] == 0
    await sandbox.act(
        state.send_message,
        chat_id=world["group"]["id"],
        from_id=world["alice"]["id"],
        text="only this",
    )
    assert await sandbox.deliver_pending() == 1
    await sandbox.wait_idle(1)
    assert len(receiver.received) == 1
    assert await api("deleteWebhook") is True
    await say(act, world, "polled")
    assert texts(await api("getUpdates")) == ["polled"]
    with pytest.raises(TimeoutError):
        await sandbox.wait_idle(0.1)


async def test_allowed_updates_of_set_webhook_filter_new_updates(
    api: Any, act: Any, sandbox: Sandbox, world: Any
) -> None:
    await api(
        "setWebhook",
        url="http://unused.test/hook",
        allowed_updates=["callback_query"],
        drop_pending_updates=True,
    )
    await say(act, world, "ignored")
    assert (await api("getWebhookInfo"))["pending_update_count"] == 0
    await api("deleteWebhook")
    await api("getUpdates", allowed_updates=[])
    await say(act, world, "default again")
    assert texts(await api("getUpdates")) == ["default again"]


async def test_aiogram_bot_over_real_http(
    live: str, act: Any, world: Any, sandbox: Sandbox
) -> None:
    session = AiohttpSession(api=TelegramAPIServer.from_base(f"{live}/sandbox"))
    bot = Bot(TOKEN, session=session)
    try:
        me = await bot.get_me()
        assert (me.id, me.username, me.is_bot) == (BOT_ID, "townsquare_sandbox_bot", True)
        sent = await bot.send_message(
            world["group"]["id"],
            "<b>Hi</b> from aiogram",
            parse_mode="HTML",
            reply_markup={"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]},
        )
        assert sent.text == "Hi from aiogram" and sent.chat.id == world["group"]["id"]
        assert sent.reply_markup is not None
        assert sent.reply_markup.inline_keyboard[0][0].callback_data == "go"
        backlog = await bot.get_updates()
        assert {u.event_type for u in backlog} == {"my_chat_member", "message"}
        await act(
            state.press_button,
            chat_id=world["group"]["id"],
            message_id=sent.message_id,
            user_id=world["bob"]["id"],
            callback_data="go",
        )
        [update] = await bot.get_updates(offset=backlog[-1].update_id + 1, timeout=5)
        assert update.callback_query is not None and update.callback_query.data == "go"
        assert await bot.answer_callback_query(update.callback_query.id, text="ok") is True
        with pytest.raises(TelegramBadRequest, match="chat not found"):
            await bot.send_message(-5, "nowhere")
        member = await bot.get_chat_member(world["group"]["id"], world["bob"]["id"])
        assert member.status == "member"
        sandbox.limiter.configure(chat_per_minute=1, global_per_second=30)
        await bot.send_message(world["group"]["id"], "one")
        with pytest.raises(TelegramRetryAfter) as flood:
            await bot.send_message(world["group"]["id"], "two")
        assert flood.value.retry_after == 60
    finally:
        await bot.session.close()


@pytest.mark.parametrize(
    ("database_url", "expected"),
    [
        ("", "sqlite+aiosqlite:///var/sandbox.db"),
        ("sqlite:///var/town.db", "sqlite+aiosqlite:///var/sandbox.db"),
        ("postgresql://u@db/town", "postgresql+asyncpg://u@db/town"),
    ],
)
def test_sandbox_database_url_keeps_sqlite_writers_apart(database_url: str, expected: str) -> None:
    settings = Settings(_env_file=None, database_url=database_url)  # type: ignore[call-arg]
    assert sandbox_database_url(settings) == expected
