"""Group chats: record members and messages, follow the bot's own membership."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import ChatMemberUpdated, Message, Update
from aiogram.utils.markdown import html_decoration
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import texts
from core import repo

router = Router(name=__name__)
GROUPS = F.chat.type.in_({"group", "supergroup"})
router.message.filter(GROUPS)
router.my_chat_member.filter(GROUPS)
router.chat_member.filter(GROUPS)


def message_kind(message: Message) -> str:
    if message.text is not None:
        return "command" if message.text.startswith("/") else "text"
    return str(message.content_type)


@router.message(Command("help", "start"))
async def group_help(message: Message, session: AsyncSession, event_update: Update) -> None:
    await _record(message, session, event_update.update_id)
    await message.reply(texts.group_help())


@router.message()
async def record(message: Message, session: AsyncSession, event_update: Update) -> None:
    await _record(message, session, event_update.update_id)


async def _record(message: Message, session: AsyncSession, update_id: int) -> None:
    if message.from_user is None or message.from_user.is_bot:
        return
    await repo.record_message(
        session=session,
        chat_id=message.chat.id,
        message_id=message.message_id,
        member_id=message.from_user.id,
        update_id=update_id,
        kind=message_kind(message),
        text_length=len(message.text or message.caption or ""),
        reply_to_message_id=message.reply_to_message.message_id
        if message.reply_to_message
        else None,
        sent_at=message.date,
    )


@router.my_chat_member()
async def bot_membership(event: ChatMemberUpdated, session: AsyncSession) -> None:
    status = str(event.new_chat_member.status.value)
    await repo.set_bot_status(session=session, chat_id=event.chat.id, status=status)
    was_in = event.old_chat_member.status.value in ("member", "administrator", "creator")
    if status in ("member", "administrator") and not was_in:
        await event.answer(texts.added_to_group(html_decoration.quote(event.chat.title or "")))


@router.chat_member()
async def member_changed(event: ChatMemberUpdated, session: AsyncSession) -> None:
    user = event.new_chat_member.user
    if user.is_bot:
        return
    await repo.upsert_member(
        session=session,
        id=user.id,
        username=user.username,
        first_name=user.first_name,
        last_name=user.last_name,
        language_code=user.language_code,
        is_bot=user.is_bot,
    )
    await repo.set_membership_status(
        session=session,
        chat_id=event.chat.id,
        member_id=user.id,
        status=str(event.new_chat_member.status.value),
    )
