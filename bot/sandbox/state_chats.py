"""Users, bots, chats and memberships, with the updates and service messages they cause."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.sandbox.errors import NOT_ENOUGH_RIGHTS, bad_request, forbidden
from bot.sandbox.state_core import (
    bots_in_chat,
    enqueue,
    get_bot,
    get_chat,
    get_member,
    get_user,
    has_right,
    is_admin,
    is_member,
    new_link_hash,
    next_value,
    unix,
)
from bot.sandbox.state_messages import announce, store_message
from bot.sandbox.views import (
    DEFAULT_ADMIN_RIGHTS,
    chat_json,
    invite_link_json,
    member_json,
    user_json,
)
from core.clock import utcnow
from core.models_sandbox import (
    SandboxBot,
    SandboxChat,
    SandboxChatMember,
    SandboxInviteLink,
    SandboxUser,
)

FIRST_GROUP = 4_000_000_001
SUPERGROUP_BASE = 1_000_000_000_000


async def create_group(
    *,
    session: AsyncSession,
    title: str,
    creator_id: int,
    supergroup: bool = True,
    username: str | None = None,
) -> dict[str, Any]:
    """A new group (negative id; supergroups `-100...`) owned by `creator_id`."""
    creator = await get_user(session=session, user_id=creator_id)
    title = title.strip()
    if not title or len(title) > 128:
        raise bad_request("title must have 1 to 128 characters")
    number = await next_value(session=session, name="group", start=FIRST_GROUP)
    chat = SandboxChat(
        id=-(SUPERGROUP_BASE + number) if supergroup else -number,
        type="supergroup" if supergroup else "group",
        title=title,
        username=username,
    )
    session.add(chat)
    session.add(SandboxChatMember(chat_id=chat.id, user_id=creator.id, status="creator"))
    await session.flush()
    await _primary_link(session=session, chat=chat, creator_id=creator.id)
    flag = "supergroup_chat_created" if supergroup else "group_chat_created"
    await store_message(session=session, chat=chat, from_id=creator.id, service={flag: True})
    return await chat_json(session=session, chat=chat)


async def _primary_link(*, session: AsyncSession, chat: SandboxChat, creator_id: int) -> None:
    link = SandboxInviteLink(
        invite_link=new_link_hash(), chat_id=chat.id, creator_id=creator_id, is_primary=True
    )
    session.add(link)
    await session.flush()


async def change_member(
    *,
    session: AsyncSession,
    chat: SandboxChat,
    user: SandboxUser,
    status: str,
    actor: SandboxUser,
    rights: dict[str, Any] | None = None,
    until: datetime | None = None,
    invite_link: SandboxInviteLink | None = None,
    via_join_request: bool = False,
    message_from: SandboxUser | None = None,
) -> dict[str, Any]:
    """Moves a user to a new status and emits what Telegram would: my_chat_member for a bot,
    chat_member for admin bots, and a join or leave service message in the group."""
    if chat.type == "private":
        raise bad_request("method is available for supergroup and group chats only")
    member = await get_member(session=session, chat_id=chat.id, user_id=user.id)
    old = member_json(user, member)
    was_in = is_member(member)
    if member is None:
        member = SandboxChatMember(chat_id=chat.id, user_id=user.id, status=status)
    member.status, member.rights, member.until_date = status, rights, until
    if status == "administrator":
        member.promoted_by = actor.id
    if is_member(member) and not was_in:
        member.joined_at = utcnow()
    session.add(member)
    await session.flush()
    new = member_json(user, member)
    payload: dict[str, Any] = {
        "chat": await chat_json(session=session, chat=chat),
        "from": user_json(actor),
        "date": unix(utcnow()),
        "old_chat_member": old,
        "new_chat_member": new,
    }
    if invite_link is not None:
        creator = await get_user(session=session, user_id=invite_link.creator_id)
        payload["invite_link"] = invite_link_json(invite_link, creator)
    if via_join_request:
        payload["via_join_request"] = True
    if old != new:
        await _emit_member_updates(session=session, chat=chat, user=user, payload=payload)
    if is_member(member) and not was_in:
        sender = message_from or actor
        await _service(session, chat, sender, {"new_chat_members": [user_json(user)]})
    elif was_in and not is_member(member):
        await _service(session, chat, actor, {"left_chat_member": user_json(user)})
    return new


async def _emit_member_updates(
    *, session: AsyncSession, chat: SandboxChat, user: SandboxUser, payload: dict[str, Any]
) -> None:
    if user.is_bot and (own := await session.get(SandboxBot, user.id)) is not None:
        await enqueue(session=session, bot=own, kind="my_chat_member", payload=payload)
    for bot in await bots_in_chat(session=session, chat=chat):
        standing = await get_member(session=session, chat_id=chat.id, user_id=bot.id)
        if bot.id != user.id and is_admin(standing):
            await enqueue(session=session, bot=bot, kind="chat_member", payload=payload)


async def _service(
    session: AsyncSession, chat: SandboxChat, actor: SandboxUser, fields: dict[str, Any]
) -> None:
    message = await store_message(session=session, chat=chat, from_id=actor.id, service=fields)
    await announce(session=session, chat=chat, message=message)


async def _acting_admin(
    *, session: AsyncSession, chat: SandboxChat, user_id: int, right: str
) -> SandboxUser:
    actor = await get_user(session=session, user_id=user_id)
    standing = await get_member(session=session, chat_id=chat.id, user_id=actor.id)
    if not has_right(standing, right):
        raise bad_request(f"{NOT_ENOUGH_RIGHTS}: {right} is required")
    return actor


async def add_bot(
    *,
    session: AsyncSession,
    chat_id: int,
    by_user_id: int,
    admin: bool = False,
    bot_id: int | None = None,
) -> dict[str, Any]:
    """A member adds the bot to a group, as a member or straight as an administrator."""
    chat = await get_chat(session=session, chat_id=chat_id)
    bot = await get_bot(session=session, bot_id=bot_id)
    bot_user = await get_user(session=session, user_id=bot.id)
    right = "can_promote_members" if admin else "can_invite_users"
    actor = await get_user(session=session, user_id=by_user_id)
    standing = await get_member(session=session, chat_id=chat.id, user_id=actor.id)
    if not is_member(standing) or (admin and not has_right(standing, right)):
        raise forbidden(f"{NOT_ENOUGH_RIGHTS} to add the bot")
    if admin:
        return await change_member(
            session=session,
            chat=chat,
            user=bot_user,
            status="administrator",
            actor=actor,
            rights=dict(DEFAULT_ADMIN_RIGHTS),
        )
    return await change_member(
        session=session, chat=chat, user=bot_user, status="member", actor=actor
    )


async def remove_bot(
    *, session: AsyncSession, chat_id: int, by_user_id: int, bot_id: int | None = None
) -> dict[str, Any]:
    """An administrator removes the bot (supergroups ban removed members, like Telegram)."""
    chat = await get_chat(session=session, chat_id=chat_id)
    actor = await _acting_admin(
        session=session, chat=chat, user_id=by_user_id, right="can_restrict_members"
    )
    bot_user = await get_user(
        session=session, user_id=(await get_bot(session=session, bot_id=bot_id)).id
    )
    status = "kicked" if chat.type == "supergroup" else "left"
    return await change_member(
        session=session, chat=chat, user=bot_user, status=status, actor=actor
    )


async def promote(
    *,
    session: AsyncSession,
    chat_id: int,
    user_id: int,
    by_user_id: int,
    rights: dict[str, bool] | None = None,
) -> dict[str, Any]:
    """Makes a member (or the bot) an administrator with Telegram's default rights."""
    chat = await get_chat(session=session, chat_id=chat_id)
    actor = await _acting_admin(
        session=session, chat=chat, user_id=by_user_id, right="can_promote_members"
    )
    user = await get_user(session=session, user_id=user_id)
    standing = await get_member(session=session, chat_id=chat.id, user_id=user.id)
    if not is_member(standing):
        raise bad_request("USER_NOT_PARTICIPANT")
    if standing is not None and standing.status == "creator":
        raise bad_request("can't promote the chat owner")
    granted = {**DEFAULT_ADMIN_RIGHTS, **(rights or {})}
    return await change_member(
        session=session, chat=chat, user=user, status="administrator", actor=actor, rights=granted
    )


async def add_member(
    *, session: AsyncSession, chat_id: int, user_id: int, by_user_id: int
) -> dict[str, Any]:
    """A member adds another user to the group (`new_chat_members` from the adder)."""
    chat = await get_chat(session=session, chat_id=chat_id)
    actor = await get_user(session=session, user_id=by_user_id)
    if not is_member(await get_member(session=session, chat_id=chat.id, user_id=actor.id)):
        raise forbidden("only members can add members")
    user = await get_user(session=session, user_id=user_id)
    if is_member(await get_member(session=session, chat_id=chat.id, user_id=user.id)):
        raise bad_request("USER_ALREADY_PARTICIPANT")
    return await change_member(session=session, chat=chat, user=user, status="member", actor=actor)


async def leave(*, session: AsyncSession, chat_id: int, user_id: int) -> dict[str, Any]:
    """A user leaves the group (`left_chat_member` from the user)."""
    chat = await get_chat(session=session, chat_id=chat_id)
    user = await get_user(session=session, user_id=user_id)
    standing = await get_member(session=session, chat_id=chat.id, user_id=user.id)
    if not is_member(standing):
        raise bad_request("USER_NOT_PARTICIPANT")
    return await change_member(session=session, chat=chat, user=user, status="left", actor=user)


async def chat_owner(*, session: AsyncSession, chat_id: int) -> int:
    """The id of the group's creator."""
    found = await session.exec(
        select(SandboxChatMember).where(
            SandboxChatMember.chat_id == chat_id, SandboxChatMember.status == "creator"
        )
    )
    owner = found.first()
    if owner is None:
        raise bad_request("the chat has no owner")
    return owner.user_id


async def chat_members(*, session: AsyncSession, chat_id: int) -> list[dict[str, Any]]:
    """Every user with a standing in the group (left and kicked included), as ChatMember."""
    await get_chat(session=session, chat_id=chat_id)
    rows = await session.exec(
        select(SandboxUser, SandboxChatMember)
        .join(SandboxChatMember, col(SandboxChatMember.user_id) == col(SandboxUser.id))
        .where(SandboxChatMember.chat_id == chat_id)
        .order_by(col(SandboxChatMember.joined_at))
    )
    return [member_json(user, member) for user, member in rows.all()]
