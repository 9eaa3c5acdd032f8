"""Outer middlewares: a transaction per update (shared by concurrent updates), de-duplication
by `update_id`, member and chat upserts."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.types import Chat, TelegramObject, Update, User
from aiogram.types.update import UpdateTypeLookupError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.inline_filters import group_chatter
from bot.middlewares.group_commit import CLAIMED_BEFORE, GroupCommit
from bot.seen import SeenCache
from core import repo

log = logging.getLogger(__name__)
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


def update_kind(update: Update) -> str:
    try:
        return update.event_type
    except UpdateTypeLookupError:
        return "unknown"


def ordinary(update: Update) -> bool:
    """A group message that is no command: most of the traffic, and handled without calling
    Telegram, so its handling hardly ever fails (see `GroupCommit.run`'s `isolated`)."""
    return update.message is not None and group_chatter(update.message)


# Batches in flight at once on a database that takes concurrent writers: two keep both the
# gateway's CPU and the database server busy, each while the other waits for it.
CONCURRENT_BATCHES = 2


def batches_in_flight(sessions: async_sessionmaker[AsyncSession]) -> int:
    """One batch at a time on SQLite (one writer at a time), `CONCURRENT_BATCHES` on
    PostgreSQL."""
    dialect = sessions.kw["bind"].dialect.name
    return CONCURRENT_BATCHES if dialect == "postgresql" else 1


class DatabaseMiddleware(BaseMiddleware):
    """Runs the whole update in a transaction that commits only if every step succeeded.

    The `processed_updates` row is written in that same transaction, so an update is either
    fully handled and marked, or not at all and Telegram's retry handles it again. Updates
    handled at the same time share one transaction (see `GroupCommit`), each in its own
    SAVEPOINT (ordinary group messages without one); the caller learns the outcome only after
    the COMMIT. `concurrency` is how many updates may arrive at once (the webhook's
    `max_connections`): the batches in flight share it.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        seen: SeenCache,
        *,
        concurrency: int,
    ) -> None:
        in_flight = batches_in_flight(sessions)
        self._commits = GroupCommit(
            sessions,
            claim=claim_updates,
            in_flight=in_flight,
            max_batch=-(-concurrency // in_flight),
        )
        self._seen = seen

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        bot_id = data["bot"].id
        key = f"{bot_id}:{event.update_id}"
        if await self._seen.seen(key):
            log.info("update %s already handled, skipped", event.update_id)
            return UNHANDLED

        async def work(session: AsyncSession, after_commit: list[Callable[[], None]]) -> Any:
            return await handler(event, {**data, "session": session, "after_commit": after_commit})

        claim = (bot_id, event.update_id, update_kind(event))
        result = await self._commits.run(work, isolated=not ordinary(event), key=claim)
        await self._seen.add(key)
        if result is CLAIMED_BEFORE:
            log.info("update %s already recorded, skipped", event.update_id)
            return UNHANDLED
        return result


async def claim_updates(
    session: AsyncSession, updates: list[tuple[int, int, str]]
) -> set[tuple[int, int, str]]:
    """Records `(bot_id, update_id, kind)` updates in `processed_updates`; returns those that
    were not recorded before."""
    fresh = await repo.mark_updates(session=session, updates=updates)
    return {u for u in updates if (u[0], u[1]) in fresh}


class UpsertMiddleware(BaseMiddleware):
    """Keeps `members`, `chats` and `memberships` current from whatever the update carries.

    Rows already written with the same content are remembered (once their transaction has
    committed), so a busy group costs no upsert per message.
    """

    def __init__(self, capacity: int = 200_000) -> None:
        self._written: OrderedDict[tuple[str, int, int], tuple[Any, ...]] = OrderedDict()
        self._capacity = capacity

    def _stale(self, key: tuple[str, int, int], content: tuple[Any, ...]) -> bool:
        return self._written.get(key) != content

    def _remember(self, key: tuple[str, int, int], content: tuple[Any, ...]) -> Callable[[], None]:
        def remember() -> None:
            self._written[key] = content
            self._written.move_to_end(key)
            if len(self._written) > self._capacity:
                self._written.popitem(last=False)

        return remember

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        session: AsyncSession | None = data.get("session")
        if session is None:
            return await handler(event, data)
        after_commit: list[Callable[[], None]] = data.get("after_commit", [])
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        if user is not None:
            fields = member_fields(user)
            key, content = ("member", user.id, 0), tuple(fields.values())
            if self._stale(key, content):
                await repo.upsert_member(session=session, **fields)
                after_commit.append(self._remember(key, content))
        if chat is not None:
            key, content = ("chat", chat.id, 0), (chat.type, chat.title, chat.username)
            if self._stale(key, content):
                await repo.upsert_chat(
                    session=session,
                    id=chat.id,
                    type=chat.type,
                    title=chat.title,
                    username=chat.username,
                )
                after_commit.append(self._remember(key, content))
            if user is not None and chat.type in ("group", "supergroup") and not user.is_bot:
                key = ("membership", chat.id, user.id)
                if self._stale(key, ()):
                    await repo.ensure_membership(
                        session=session, chat_id=chat.id, member_id=user.id
                    )
                    after_commit.append(self._remember(key, ()))
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
