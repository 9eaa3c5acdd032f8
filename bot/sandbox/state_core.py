"""Shared pieces of the sandbox state: lookups, atomic counters, the update queue.

Every helper takes `*, session` and never commits: the caller owns the transaction
(`core.db.transaction`), so one user action and the updates it causes commit together.
"""

from __future__ import annotations

import secrets
import weakref
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.sandbox.errors import CHAT_NOT_FOUND, USER_NOT_FOUND, bad_request
from core.clock import utcnow
from core.models_sandbox import (
    SandboxBot,
    SandboxChat,
    SandboxChatMember,
    SandboxCounter,
    SandboxUpdate,
    SandboxUser,
)

ALL_UPDATES = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "message_reaction",
    "message_reaction_count",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
)
# Telegram leaves these out unless a bot names them in allowed_updates.
OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
DEFAULT_UPDATES = frozenset(ALL_UPDATES) - OPT_IN_UPDATES
MEMBER_STATUSES = frozenset({"creator", "administrator", "member"})
ADMIN_STATUSES = frozenset({"creator", "administrator"})

LINK_PREFIX = "https://t.me/+"

# Woken (`.wake()`) after a commit that queued updates, so delivery and long polls react at once.
WAKERS: weakref.WeakSet[Any] = weakref.WeakSet()


def aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def unix(moment: datetime | None) -> int:
    return 0 if moment is None else int(aware(moment).timestamp())


def allowed_set(bot: SandboxBot) -> frozenset[str]:
    if not bot.allowed_updates:
        return DEFAULT_UPDATES
    return frozenset(bot.allowed_updates)


async def next_value(*, session: AsyncSession, name: str, start: int) -> int:
    """Bumps a named counter atomically (safe across processes and concurrent sessions)."""
    stmt = (
        update(SandboxCounter)
        .where(col(SandboxCounter.name) == name)
        .values(value=col(SandboxCounter.value) + 1)
        .returning(col(SandboxCounter.value))
    )
    row = (await session.exec(stmt)).first()  # type: ignore[call-overload]
    if row is not None:
        return int(row[0])
    session.add(SandboxCounter(name=name, value=start))
    await session.flush()
    return start


async def get_user(*, session: AsyncSession, user_id: int) -> SandboxUser:
    user = await session.get(SandboxUser, user_id)
    if user is None:
        raise bad_request(USER_NOT_FOUND)
    return user


async def get_chat(*, session: AsyncSession, chat_id: int) -> SandboxChat:
    chat = await session.get(SandboxChat, chat_id)
    if chat is None:
        raise bad_request(CHAT_NOT_FOUND)
    return chat


async def find_chat(*, session: AsyncSession, ref: int | str) -> SandboxChat:
    """A chat by id or by `@username`, as the Bot API's `chat_id` allows."""
    if isinstance(ref, str) and ref.startswith("@"):
        found = await session.exec(select(SandboxChat).where(SandboxChat.username == ref[1:]))
        chat = found.first()
        if chat is None:
            raise bad_request(CHAT_NOT_FOUND)
        return chat
    try:
        chat_id = int(ref)
    except ValueError:
        raise bad_request(CHAT_NOT_FOUND) from None
    return await get_chat(session=session, chat_id=chat_id)


async def get_member(
    *, session: AsyncSession, chat_id: int, user_id: int
) -> SandboxChatMember | None:
    return await session.get(SandboxChatMember, (chat_id, user_id))


def is_member(member: SandboxChatMember | None) -> bool:
    if member is None:
        return False
    if member.status == "restricted":
        return bool((member.rights or {}).get("is_member", True))
    return member.status in MEMBER_STATUSES


def is_admin(member: SandboxChatMember | None) -> bool:
    return member is not None and member.status in ADMIN_STATUSES


def has_right(member: SandboxChatMember | None, right: str) -> bool:
    if member is None:
        return False
    if member.status == "creator":
        return True
    return member.status == "administrator" and bool((member.rights or {}).get(right))


async def get_bot(*, session: AsyncSession, bot_id: int | None = None) -> SandboxBot:
    """The bot with this id, or the sandbox's first bot when no id is given."""
    if bot_id is not None:
        bot = await session.get(SandboxBot, bot_id)
    else:
        bot = (await session.exec(select(SandboxBot).order_by(col(SandboxBot.id)))).first()
    if bot is None:
        raise bad_request("bot not registered; call Sandbox.ensure_bot(token) first")
    return bot


async def bots_in_chat(*, session: AsyncSession, chat: SandboxChat) -> list[SandboxBot]:
    """Bots that receive the chat's updates: the peer of a private chat, members of a group."""
    if chat.type == "private":
        bot = await session.get(SandboxBot, chat.peer_bot_id) if chat.peer_bot_id else None
        return [bot] if bot is not None else []
    rows = await session.exec(
        select(SandboxBot, SandboxChatMember)
        .join(SandboxChatMember, col(SandboxChatMember.user_id) == col(SandboxBot.id))
        .where(SandboxChatMember.chat_id == chat.id)
        .order_by(col(SandboxBot.id))
    )
    return [bot for bot, member in rows.all() if is_member(member)]


def _wake_after_commit(_session: Any) -> None:
    for sandbox in list(WAKERS):
        sandbox.wake()


async def enqueue(
    *, session: AsyncSession, bot: SandboxBot, kind: str, payload: dict[str, Any]
) -> int | None:
    """Queues an update for a bot if its allowed_updates let it through; returns its id."""
    if kind not in allowed_set(bot):
        return None
    stmt = (
        update(SandboxBot)
        .where(col(SandboxBot.id) == bot.id)
        .values(last_update_id=col(SandboxBot.last_update_id) + 1)
        .returning(col(SandboxBot.last_update_id))
        .execution_options(synchronize_session=False)
    )
    update_id = int((await session.exec(stmt)).one()[0])  # type: ignore[call-overload]
    session.add(
        SandboxUpdate(
            bot_id=bot.id,
            update_id=update_id,
            kind=kind,
            payload={"update_id": update_id, kind: payload},
            created_at=utcnow(),
        )
    )
    sync_session = session.sync_session
    if not sync_session.info.get("sandbox_wake"):
        sync_session.info["sandbox_wake"] = True
        event.listen(sync_session, "after_commit", _wake_after_commit)
    return update_id


async def enqueue_for(
    *,
    session: AsyncSession,
    bots: Sequence[SandboxBot],
    kind: str,
    payload: dict[str, Any],
    exclude: int | None = None,
) -> None:
    for bot in bots:
        if bot.id != exclude:
            await enqueue(session=session, bot=bot, kind=kind, payload=payload)


async def bump_revision(*, session: AsyncSession, chat_id: int) -> int:
    stmt = (
        update(SandboxChat)
        .where(col(SandboxChat.id) == chat_id)
        .values(revision=col(SandboxChat.revision) + 1)
        .returning(col(SandboxChat.revision))
        .execution_options(synchronize_session=False)
    )
    return int((await session.exec(stmt)).one()[0])  # type: ignore[call-overload]


async def next_message_id(*, session: AsyncSession, chat_id: int) -> int:
    stmt = (
        update(SandboxChat)
        .where(col(SandboxChat.id) == chat_id)
        .values(last_message_id=col(SandboxChat.last_message_id) + 1)
        .returning(col(SandboxChat.last_message_id))
        .execution_options(synchronize_session=False)
    )
    return int((await session.exec(stmt)).one()[0])  # type: ignore[call-overload]


def new_link_hash() -> str:
    return LINK_PREFIX + secrets.token_urlsafe(12)
