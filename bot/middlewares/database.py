"""Outer middlewares: one transaction per update, de-duplication by `update_id`, upserts."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.types import Chat, TelegramObject, Update, User
from aiogram.types.update import UpdateTypeLookupError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.seen import SeenCache
from core import repo

log = logging.getLogger(__name__)
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


def update_kind(update: Update) -> str:
    try:
        return update.event_type
    except UpdateTypeLookupError:
        return "unknown"


class DatabaseMiddleware(BaseMiddleware):
    """Runs the whole update in one transaction that commits only if every step succeeded.

    The `processed_updates` row is written in that same transaction, so an update is either
    fully handled and marked, or not at all and Telegram's retry handles it again.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], seen: SeenCache) -> None:
        self._sessions = sessions
        self._seen = seen

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        bot_id = data["bot"].id
        key = f"{bot_id}:{event.update_id}"
        if await self._seen.seen(key):
            log.info("update %s already handled, skipped", event.update_id)
            return UNHANDLED
        async with self._sessions() as session, session.begin():
            fresh = await repo.mark_update(
                session=session, bot_id=bot_id, update_id=event.update_id, kind=update_kind(event)
            )
            if not fresh:
                log.info("update %s already recorded, skipped", event.update_id)
                result = UNHANDLED
            else:
                data["session"] = session
                result = await handler(event, data)
        await self._seen.add(key)
        return result


class UpsertMiddleware(BaseMiddleware):
    """Keeps `members`, `chats` and `memberships` current from whatever the update carries."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        session: AsyncSession | None = data.get("session")
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        if session is not None:
            if user is not None:
                await repo.upsert_member(session=session, **member_fields(user))
            if chat is not None:
                await repo.upsert_chat(
                    session=session,
                    id=chat.id,
                    type=chat.type,
                    title=chat.title,
                    username=chat.username,
                )
                if user is not None and chat.type in ("group", "supergroup") and not user.is_bot:
                    await repo.ensure_membership(
                        session=session, chat_id=chat.id, member_id=user.id
                    )
        return await handler(event, data)


def member_fields(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "language_code": user.language_code,
        "is_bot": user.is_bot,
    }
