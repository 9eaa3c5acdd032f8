"""Self-deleting group replies that survive a restart.

A short group reply (and the command it answers) is stored as a pending deletion in the same
transaction as the update; an in-process timer deletes it on time, and `sweep` deletes whatever
is due when the gateway starts and on a timer afterwards, so a restart never leaves it behind.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from sqlalchemy import delete, select, tuple_
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import utcnow
from core.db import transaction
from core.models_upkeep import PendingDeletion
from engagement import sql

log = logging.getLogger(__name__)
SWEEP_BATCH = 200
_timers: set[asyncio.Task[None]] = set()


async def remember(
    *, session: AsyncSession, chat_id: int, message_ids: Iterable[int], delete_at: datetime
) -> None:
    """Stores messages to delete at `delete_at` (in the caller's transaction)."""
    for message_id in message_ids:
        stmt = sql.upsert(session, PendingDeletion).values(
            chat_id=chat_id, message_id=message_id, delete_at=delete_at, created_at=utcnow()
        )
        await sql.run(session, stmt.on_conflict_do_nothing())


async def forget(*, session: AsyncSession, keys: Iterable[tuple[int, int]]) -> None:
    """Drops `(chat_id, message_id)` entries that are dealt with."""
    wanted = list(keys)
    if wanted:
        t = PendingDeletion.__table__  # type: ignore[attr-defined]
        await sql.run(session, delete(t).where(tuple_(t.c.chat_id, t.c.message_id).in_(wanted)))


async def due(
    *, session: AsyncSession, now: datetime, limit: int = SWEEP_BATCH
) -> list[tuple[int, int]]:
    """The oldest entries whose time has come, as `(chat_id, message_id)`."""
    t = PendingDeletion.__table__  # type: ignore[attr-defined]
    stmt = (
        select(t.c.chat_id, t.c.message_id)
        .where(t.c.delete_at <= now)
        .order_by(t.c.delete_at)
        .limit(limit)
    )
    return [(int(c), int(m)) for c, m in await sql.rows(session, stmt)]


async def delete_messages(
    bot: Bot, sessions: async_sessionmaker[AsyncSession], keys: list[tuple[int, int]]
) -> int:
    """Deletes messages in the chat and then their entries; returns how many entries went.

    A message already gone (or the bot no longer in the chat) counts as done; any other
    failure, a network error above all, keeps the entry for the next sweep.
    """
    done = []
    for chat_id, message_id in keys:
        try:
            await bot.delete_message(chat_id, message_id)
        except (TelegramBadRequest, TelegramForbiddenError):
            pass
        except TelegramAPIError as exc:
            log.info("deleting %s in %s failed, kept for later: %s", message_id, chat_id, exc)
            continue
        done.append((chat_id, message_id))
    async with transaction(sessions) as session:
        await forget(session=session, keys=done)
    return len(done)


async def sweep(
    bot: Bot, sessions: async_sessionmaker[AsyncSession], *, now: datetime | None = None
) -> int:
    """Deletes every message that is due; returns how many entries were dealt with."""
    total = 0
    while True:
        async with sessions() as session:
            keys = await due(session=session, now=now or utcnow())
        if not keys:
            return total
        cleared = await delete_messages(bot, sessions, keys)
        total += cleared
        if cleared < len(keys):
            return total  # something failed: the next sweep retries rather than spinning


def schedule(
    bot: Bot,
    sessions: async_sessionmaker[AsyncSession],
    keys: list[tuple[int, int]],
    delay: float,
) -> None:
    """Deletes `keys` after `delay` seconds, in this process (the sweep is the safety net)."""

    async def run() -> None:
        await asyncio.sleep(delay)
        try:
            await delete_messages(bot, sessions, keys)
        except Exception:
            log.exception("deleting replies %s failed; the next sweep retries", keys)

    task = asyncio.create_task(run())
    _timers.add(task)
    task.add_done_callback(_timers.discard)


async def delete_later(
    *,
    bot: Bot,
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    after_commit: list[Callable[[], None]],
    chat_id: int,
    message_ids: Iterable[int],
    delay: float,
) -> None:
    """Stores the deletion with the update's transaction and starts its timer once committed."""
    keys = [(chat_id, m) for m in message_ids]
    at = utcnow() + timedelta(seconds=delay)
    await remember(session=session, chat_id=chat_id, message_ids=[m for _, m in keys], delete_at=at)
    after_commit.append(lambda: schedule(bot, sessions, keys, delay))
