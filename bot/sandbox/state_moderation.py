"""What a bot does to members as an administrator: ban, unban, restrict; and leaving."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.sandbox.errors import NOT_ENOUGH_RIGHTS, bad_request
from bot.sandbox.state_bot import bot_chat
from bot.sandbox.state_chats import change_member
from bot.sandbox.state_core import get_member, get_user, has_right, is_member
from bot.sandbox.state_messages import mark_deleted
from bot.sandbox.views import PERMISSIONS
from core.models_sandbox import (
    SandboxBot,
    SandboxChat,
    SandboxChatMember,
    SandboxMessage,
    SandboxUser,
)


async def _target(
    *, session: AsyncSession, bot: SandboxBot, chat_ref: int | str, user_id: int
) -> tuple[SandboxChat, SandboxUser, SandboxChatMember | None]:
    chat, member = await bot_chat(session=session, bot=bot, ref=chat_ref)
    if chat.type == "private":
        raise bad_request("method is available for supergroup and group chats only")
    if not has_right(member, "can_restrict_members"):
        raise bad_request(f"{NOT_ENOUGH_RIGHTS} to restrict/ban chat member")
    user = await session.get(SandboxUser, user_id)
    if user is None:
        raise bad_request("PARTICIPANT_ID_INVALID")
    if user.id == bot.id:
        raise bad_request("can't restrict self")
    standing = await get_member(session=session, chat_id=chat.id, user_id=user.id)
    if standing is not None and standing.status == "creator":
        raise bad_request("can't remove chat owner")
    if standing is not None and standing.status == "administrator":
        raise bad_request("user is an administrator of the chat")
    return chat, user, standing


async def bot_ban(
    *,
    session: AsyncSession,
    bot: SandboxBot,
    chat_ref: int | str,
    user_id: int,
    until: datetime | None = None,
    revoke_messages: bool = False,
) -> bool:
    chat, user, _ = await _target(session=session, bot=bot, chat_ref=chat_ref, user_id=user_id)
    actor = await get_user(session=session, user_id=bot.id)
    await change_member(
        session=session, chat=chat, user=user, status="kicked", actor=actor, until=until
    )
    if revoke_messages or chat.type == "group":
        rows = await session.exec(
            select(SandboxMessage).where(
                SandboxMessage.chat_id == chat.id,
                SandboxMessage.from_id == user.id,
                col(SandboxMessage.deleted).is_(False),
                col(SandboxMessage.text).is_not(None),
            )
        )
        for message in rows.all():
            await mark_deleted(session=session, message=message)
    return True


async def bot_unban(
    *,
    session: AsyncSession,
    bot: SandboxBot,
    chat_ref: int | str,
    user_id: int,
    only_if_banned: bool = False,
) -> bool:
    """Lifts a ban. Without only_if_banned, Telegram also removes a current member: so here."""
    chat, user, standing = await _target(
        session=session, bot=bot, chat_ref=chat_ref, user_id=user_id
    )
    banned = standing is not None and standing.status == "kicked"
    if banned or (not only_if_banned and is_member(standing)):
        actor = await get_user(session=session, user_id=bot.id)
        await change_member(session=session, chat=chat, user=user, status="left", actor=actor)
    return True


async def bot_restrict(
    *,
    session: AsyncSession,
    bot: SandboxBot,
    chat_ref: int | str,
    user_id: int,
    permissions: dict[str, Any],
    until: datetime | None = None,
) -> bool:
    """Records the restriction; granting every permission lifts it, as Telegram does."""
    chat, user, standing = await _target(
        session=session, bot=bot, chat_ref=chat_ref, user_id=user_id
    )
    granted = {name: bool(permissions.get(name)) for name in PERMISSIONS}
    actor = await get_user(session=session, user_id=bot.id)
    inside = is_member(standing)
    if all(granted.values()):
        if standing is not None and standing.status == "restricted":
            status = "member" if inside else "left"
            await change_member(session=session, chat=chat, user=user, status=status, actor=actor)
        return True
    await change_member(
        session=session,
        chat=chat,
        user=user,
        status="restricted",
        actor=actor,
        rights={**granted, "is_member": inside},
        until=until,
    )
    return True


async def bot_leave(*, session: AsyncSession, bot: SandboxBot, chat_ref: int | str) -> bool:
    chat, _ = await bot_chat(session=session, bot=bot, ref=chat_ref)
    if chat.type == "private":
        raise bad_request("chat member status can't be changed in private chats")
    actor = await get_user(session=session, user_id=bot.id)
    await change_member(session=session, chat=chat, user=actor, status="left", actor=actor)
    return True
