"""Builds the bot: dispatcher with its middlewares and routers, and the Bot client itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from aiogram import Bot, Dispatcher, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import PRODUCTION, TelegramAPIServer
from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.handlers import install
from bot.i18n import LanguageMiddleware, create_i18n
from bot.inline_filters import inline_sync_filters
from bot.middlewares.database import DatabaseMiddleware, UpsertMiddleware
from bot.outgoing import OutgoingLimiter
from bot.seen import MemorySeenCache, RedisSeenCache, SeenCache
from core.settings import Settings

if TYPE_CHECKING:  # Redis is imported only by gateways that are given one
    from redis.asyncio import Redis

# Updates Telegram sends only when asked for by name; the dispatcher handles all of them.
EXTRA_UPDATES = ("message_reaction", "chat_member", "chat_join_request")


def create_dispatcher(
    *,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    redis: Redis | None = None,
    handlers: Callable[[Router], None] | None = None,
) -> Dispatcher:
    """A dispatcher whose state lives in Redis when given one, in process otherwise.

    `handlers` puts the handlers on it: the bot's own by default (`bot.handlers.install`);
    benchmarks put a no-op handler where the bot's handler of group chatter is.
    """
    storage: BaseStorage
    seen: SeenCache
    if redis is not None:
        from aiogram.fsm.storage.redis import RedisStorage

        storage = RedisStorage(redis)
        seen = RedisSeenCache(redis)
    else:
        storage = MemoryStorage()
        seen = MemorySeenCache()
    dp = Dispatcher(storage=storage, settings=settings, sessions=sessions)
    dp.update.outer_middleware(
        DatabaseMiddleware(sessions, seen, concurrency=settings.webhook_max_connections)
    )
    dp.update.outer_middleware(UpsertMiddleware())
    LanguageMiddleware(create_i18n(settings.default_locale)).setup(dp)
    (handlers or install)(dp)
    inline_sync_filters(dp)
    return dp


def allowed_updates(dp: Dispatcher) -> list[str]:
    """Every update type the dispatcher handles, including those Telegram sends only on request."""
    return sorted(set(dp.resolve_used_update_types()) | set(EXTRA_UPDATES))


def api_server(settings: Settings) -> TelegramAPIServer:
    if settings.telegram_api_url:
        return TelegramAPIServer.from_base(settings.telegram_api_url)
    if settings.is_sandbox:
        return TelegramAPIServer.from_base(f"http://{settings.host}:{settings.port}/sandbox")
    return PRODUCTION


def create_bot(settings: Settings, *, limiter: OutgoingLimiter | None = None) -> Bot:
    """The Bot client; every call goes through the outgoing limiter."""
    session = AiohttpSession(api=api_server(settings))
    session.middleware(
        limiter
        or OutgoingLimiter(
            global_per_second=settings.rate_global_per_second,
            chat_per_minute=settings.rate_chat_per_minute,
        )
    )
    return Bot(
        settings.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode="HTML"),
    )
