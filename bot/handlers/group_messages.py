"""A member's group message as the handlers store and score it, and the batched way to.

A plain message (a member's own contribution that answers nobody) is recorded and scored at the
end of its update's batch, with the batch's other plain messages: a few statements for the
whole batch instead of a few per message (see `engagement.batch`). Anything else, and every
message outside a batch, is handled on its own, as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiogram.enums import ContentType
from aiogram.types import Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.middlewares.group_commit import defer
from core import repo
from engagement import batch, ingest

# What members write; service messages (joins, pins, title changes...) are not contributions.
CONTRIBUTIONS = frozenset(
    {
        ContentType.TEXT,
        ContentType.PHOTO,
        ContentType.VIDEO,
        ContentType.ANIMATION,
        ContentType.STICKER,
        ContentType.VOICE,
        ContentType.VIDEO_NOTE,
        ContentType.AUDIO,
        ContentType.DOCUMENT,
        ContentType.POLL,
        ContentType.DICE,
        ContentType.LOCATION,
        ContentType.VENUE,
        ContentType.CONTACT,
        ContentType.STORY,
    }
)


def message_kind(message: Message) -> str:
    if message.text is not None:
        return "command" if message.text.startswith("/") else "text"
    # ContentType is a str Enum whose str() is "ContentType.X"; the column wants the value.
    content = message.content_type
    return str(getattr(content, "value", content))[:16]


async def record(message: Message, session: AsyncSession, update_id: int) -> bool:
    """Stores a member's group message; False for bots, channels and messages seen before."""
    if message.from_user is None or message.from_user.is_bot:
        return False
    return await repo.record_message(session=session, **record_values(message, update_id))


def record_values(message: Message, update_id: int) -> dict[str, Any]:
    """What `repo.record_message` stores of a member's message."""
    assert message.from_user is not None
    return {
        "chat_id": message.chat.id,
        "message_id": message.message_id,
        "member_id": message.from_user.id,
        "update_id": update_id,
        "kind": message_kind(message),
        "text_length": len(message.text or message.caption or ""),
        "reply_to_message_id": message.reply_to_message.message_id
        if message.reply_to_message
        else None,
        "sent_at": message.date,
    }


def scorable(message: Message) -> bool:
    """A member's own contribution: not a command, not a service message, not on behalf of a
    channel or an anonymous admin."""
    text = message.text or ""
    return (
        message.sender_chat is None
        and message.content_type in CONTRIBUTIONS
        and not text.startswith("/")
    )


def reply_target(message: Message) -> Message | None:
    """The member message this one answers, if any (a forum topic's root does not count)."""
    target = message.reply_to_message
    if target is None or target.from_user is None or target.from_user.is_bot:
        return None
    if target.forum_topic_created is not None or target.sender_chat is not None:
        return None
    return target


def incoming(message: Message, update_id: int) -> ingest.IncomingMessage:
    """A member's message as scoring sees it."""
    assert message.from_user is not None
    return ingest.IncomingMessage(
        chat_id=message.chat.id,
        message_id=message.message_id,
        member_id=message.from_user.id,
        update_id=update_id,
        sent_at=message.date,
        text=message.text or message.caption,
        forwarded=message.forward_origin is not None or bool(message.is_automatic_forward),
    )


@dataclass(frozen=True, slots=True)
class Plain:
    """A plain message waiting for the end of its batch."""

    record: dict[str, Any]
    incoming: ingest.IncomingMessage


def defer_plain(message: Message, session: AsyncSession, update_id: int) -> bool:
    """Leaves a plain member message to the end of the batch; False if it is not plain or
    there is no batch to leave it to (the caller handles it then)."""
    user = message.from_user
    if user is None or user.is_bot or not scorable(message) or reply_target(message) is not None:
        return False
    item = Plain(record_values(message, update_id), incoming(message, update_id))
    return defer(session, record_and_score_plain, item)


async def record_and_score_plain(session: AsyncSession, items: list[Plain]) -> None:
    """Records a batch's plain messages and scores those stored for the first time."""
    await batch.record_and_score(
        session=session, records=[i.record for i in items], msgs=[i.incoming for i in items]
    )
