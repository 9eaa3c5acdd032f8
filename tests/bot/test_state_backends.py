"""FSM state and the de-duplication cache: in process by default, in Redis when configured."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import httpx
from aiogram.fsm.storage.base import StorageKey
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.fsm.storage.redis import RedisStorage
from redis.asyncio import Redis
from sqlalchemy import func, select

from bot.gateway import create_app
from bot.seen import MemorySeenCache, RedisSeenCache
from core.migrate import upgrade
from core.models import ChatMessage, ProcessedUpdate
from core.settings import Settings

SECRET = "state-backends-secret"


def message_update(update_id: int) -> dict[str, object]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_760_000_000,
            "chat": {"id": -1005550001, "type": "supergroup", "title": "G"},
            "from": {"id": 42, "is_bot": False, "first_name": "Ann"},
            "text": "hello",
        },
    }


async def test_memory_cache_is_bounded() -> None:
    cache = MemorySeenCache(capacity=2)
    for key in ("a", "b", "c"):
        await cache.add(key)
    assert not await cache.seen("a")
    assert await cache.seen("b")
    assert await cache.seen("c")


async def test_redis_cache_expires(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    prefix = f"test:{secrets.token_hex(4)}:"
    cache = RedisSeenCache(redis, prefix=prefix, ttl=60)
    assert not await cache.seen("1:5")
    await cache.add("1:5")
    assert await cache.seen("1:5")
    assert 0 < await redis.ttl(prefix + "1:5") <= 60
    await redis.delete(prefix + "1:5")
    await redis.aclose()


async def test_dispatcher_storage_follows_settings(tmp_path: Path, redis_url: str) -> None:
    plain = create_app(Settings(mode="sandbox", data_dir=tmp_path), register=False)
    assert isinstance(plain.state.gateway.dp.storage, MemoryStorage)
    app = create_app(
        Settings(mode="sandbox", data_dir=tmp_path, redis_url=redis_url), register=False
    )
    storage = app.state.gateway.dp.storage
    assert isinstance(storage, RedisStorage)
    key = StorageKey(bot_id=1000001, chat_id=secrets.randbelow(10**9), user_id=7)
    await storage.set_state(key, "linking:await_signature")
    await storage.set_data(key, {"nonce": "abc"})
    again = RedisStorage(Redis.from_url(redis_url))
    assert await again.get_state(key) == "linking:await_signature"
    assert await again.get_data(key) == {"nonce": "abc"}
    await storage.set_state(key, None)
    await storage.set_data(key, {})
    await again.close()
    for application in (plain, app):
        gateway = application.state.gateway
        await gateway.engine.dispose()
        if gateway.redis is not None:
            await gateway.redis.aclose()


async def _post(app: object, update: dict[str, object]) -> int:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        response = await client.post(
            "/telegram/webhook",
            json=update,
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
        )
    return response.status_code


async def test_two_gateways_share_the_work_once(tmp_path: Path, redis_url: str) -> None:
    """Two gateway processes behind one database and Redis: a redelivery to either counts once."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    await asyncio.to_thread(upgrade, url)
    apps = [
        create_app(
            Settings(
                mode="sandbox",
                data_dir=tmp_path,
                database_url=url,
                redis_url=redis_url,
                webhook_secret=SECRET,
            ),
            register=False,
        )
        for _ in range(2)
    ]
    base = secrets.randbelow(10**9) * 10
    for i in range(5):
        update = message_update(base + i)
        assert await _post(apps[0], update) == 200
        assert await _post(apps[1], update) == 200
    third = create_app(
        Settings(mode="sandbox", data_dir=tmp_path, database_url=url, webhook_secret=SECRET),
        register=False,
    )
    assert await _post(third, message_update(base)) == 200  # no Redis: the database key holds
    sessions = apps[0].state.gateway.sessions
    async with sessions() as session:
        messages = (await session.exec(select(func.count()).select_from(ChatMessage))).one()[0]
        marks = (await session.exec(select(func.count()).select_from(ProcessedUpdate))).one()[0]
    assert (messages, marks) == (5, 5)
    for application in (*apps, third):
        gateway = application.state.gateway
        await gateway.engine.dispose()
        if gateway.redis is not None:
            await gateway.redis.aclose()
