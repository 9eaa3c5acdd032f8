"""Messages: what users and bots post, edit and delete, and the updates that follow."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.sandbox.errors import bad_request, forbidden
from bot.sandbox.formatting import format_text
from bot.sandbox.state_core import (
    bots_in_chat,
    bump_revision,
    enqueue_for,
    get_chat,
    get_member,
    get_user,
    is_member,
    next_message_id,
)
from bot.sandbox.views import message_json
from core.clock import utcnow
from core.models_sandbox import SandboxChat, SandboxMessage, SandboxReaction

MAX_TEXT = 4096


async def store_message(
    *,
    session: AsyncSession,
    chat: SandboxChat,
    from_id: int,
    text: str | None = None,
    entities: list[dict[str, Any]] | None = None,
    reply_to: int | None = None,
    reply_markup: dict[str, Any] | None = None,
    service: dict[str, Any] | None = None,
) -> SandboxMessage:
    message = SandboxMessage(
        chat_id=chat.id,
        message_id=await next_message_id(session=session, chat_id=chat.id),
        from_id=from_id,
        date=utcnow(),
        text=text,
        entities=entities or None,
        reply_to_message_id=reply_to,
        reply_markup=reply_markup,
        service=service,
        revision=await bump_revision(session=session, chat_id=chat.id),
    )
    session.add(message)
    await session.flush()
    return message


async def announce(
    *, session: AsyncSession, chat: SandboxChat, message: SandboxMessage, kind: str = "message"
) -> dict[str, Any]:
    """Queues the message for every bot in the chat but its author; bots never see bots."""
    payload = await message_json(session=session, message=message)
    sender = await get_user(session=session, user_id=message.from_id)
    if not sender.is_bot:
        bots = await bots_in_chat(session=session, chat=chat)
        await enqueue_for(session=session, bots=bots, kind=kind, payload=payload)
    return payload


async def get_message(*, session: AsyncSession, chat_id: int, message_id: int) -> SandboxMessage:
    message = await session.get(SandboxMessage, (chat_id, message_id))
    if message is None or message.deleted:
        raise bad_request("message not found")
    return message


async def check_can_post(*, session: AsyncSession, chat: SandboxChat, user_id: int) -> None:
    """A user may post in their private chat and in groups they belong to."""
    if chat.type == "private":
        if chat.id != user_id:
            raise forbidden("this private chat belongs to another user")
        return
    member = await get_member(session=session, chat_id=chat.id, user_id=user_id)
    if not is_member(member):
        raise forbidden("you are not a member of this chat")
    assert member is not None
    if member.status == "restricted" and not (member.rights or {}).get("can_send_messages"):
        raise bad_request("not enough rights to send text messages to the chat")


def check_text(text: str) -> str:
    if not text.strip():
        raise bad_request("message text is empty")
    if len(text) > MAX_TEXT:
        raise bad_request("message is too long")
    return text


async def send_message(
    *, session: AsyncSession, chat_id: int, from_id: int, text: str, reply_to: int | None = None
) -> dict[str, Any]:
    """A user posts a message; the bots in the chat get a `message` update."""
    chat = await get_chat(session=session, chat_id=chat_id)
    await get_user(session=session, user_id=from_id)
    await check_can_post(session=session, chat=chat, user_id=from_id)
    plain, entities = format_text(check_text(text))
    if reply_to is not None:
        await get_message(session=session, chat_id=chat.id, message_id=reply_to)
    message = await store_message(
        session=session,
        chat=chat,
        from_id=from_id,
        text=plain,
        entities=entities,
        reply_to=reply_to,
    )
    return await announce(session=session, chat=chat, message=message)


async def edit_message(
    *, session: AsyncSession, chat_id: int, message_id: int, user_id: int, text: str
) -> dict[str, Any]:
    """A user edits their own message; the bots get an `edited_message` update."""
    chat = await get_chat(session=session, chat_id=chat_id)
    message = await get_message(session=session, chat_id=chat_id, message_id=message_id)
    if message.from_id != user_id or message.text is None:
        raise bad_request("message can't be edited")
    plain, entities = format_text(check_text(text))
    message.text, message.entities = plain, entities or None
    message.edit_date = utcnow()
    message.revision = await bump_revision(session=session, chat_id=chat.id)
    session.add(message)
    await session.flush()
    return await announce(session=session, chat=chat, message=message, kind="edited_message")


async def mark_deleted(*, session: AsyncSession, message: SandboxMessage) -> None:
    message.deleted = True
    message.revision = await bump_revision(session=session, chat_id=message.chat_id)
    session.add(message)
    await session.flush()


async def messages(
    *, session: AsyncSession, chat_id: int, since_id: int = 0, limit: int | None = None
) -> list[dict[str, Any]]:
    """The chat's live messages after `since_id`, oldest first, as Telegram Message objects."""
    await get_chat(session=session, chat_id=chat_id)
    query = (
        select(SandboxMessage)
        .where(SandboxMessage.chat_id == chat_id, col(SandboxMessage.message_id) > since_id)
        .where(col(SandboxMessage.deleted).is_(False))
        .order_by(col(SandboxMessage.message_id))
    )
    if limit is not None:
        query = query.limit(limit)
    rows = (await session.exec(query)).all()
    return [await message_json(session=session, message=row) for row in rows]


async def reaction_counts(
    *, session: AsyncSession, chat_id: int, message_ids: list[int]
) -> dict[int, dict[str, list[int]]]:
    """For each message, each emoji and the users who chose it."""
    rows = await session.exec(
        select(SandboxReaction).where(
            SandboxReaction.chat_id == chat_id, col(SandboxReaction.message_id).in_(message_ids)
        )
    )
    counts: dict[int, dict[str, list[int]]] = {}
    for row in rows.all():
        for emoji in row.emoji:
            counts.setdefault(row.message_id, {}).setdefault(emoji, []).append(row.user_id)
    return counts


async def changes(
    *, session: AsyncSession, chat_id: int, since_revision: int = 0, since_id: int = 0
) -> tuple[int, list[dict[str, Any]]]:
    """What changed in a chat (new, edited, deleted, reacted) for the web chat's polling.

    Each message carries a `sandbox` key with its revision, deletion flag and reactions.
    """
    chat = await get_chat(session=session, chat_id=chat_id)
    query = select(SandboxMessage).where(SandboxMessage.chat_id == chat_id)
    if since_revision:
        query = query.where(col(SandboxMessage.revision) > since_revision)
    else:
        query = query.where(col(SandboxMessage.message_id) > since_id)
    rows = (await session.exec(query.order_by(col(SandboxMessage.message_id)))).all()
    counts = await reaction_counts(
        session=session, chat_id=chat_id, message_ids=[r.message_id for r in rows]
    )
    result = []
    for row in rows:
        data: dict[str, Any] = (
            {"message_id": row.message_id}
            if row.deleted
            else await message_json(session=session, message=row)
        )
        data["sandbox"] = {
            "revision": row.revision,
            "deleted": row.deleted,
            "reactions": counts.get(row.message_id, {}),
        }
        result.append(data)
    return chat.revision, result
