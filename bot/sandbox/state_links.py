"""Invite links and join requests: joining by link, asking to join, approval by an admin."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.sandbox.errors import NOT_ENOUGH_RIGHTS, bad_request
from bot.sandbox.state_chats import change_member
from bot.sandbox.state_core import (
    LINK_PREFIX,
    aware,
    bots_in_chat,
    enqueue,
    get_chat,
    get_member,
    get_user,
    has_right,
    is_member,
    new_link_hash,
    unix,
)
from bot.sandbox.views import chat_json, invite_link_json, user_json
from core.clock import utcnow
from core.models_sandbox import SandboxChat, SandboxInviteLink, SandboxJoinRequest

INVITE_EXPIRED = "INVITE_HASH_EXPIRED"


def normalize_link(link: str) -> str:
    """Accepts `https://t.me/+h`, `t.me/+h`, `+h`, `https://t.me/joinchat/h` and the bare hash."""
    link = link.strip()
    for marker in ("joinchat/", "+"):
        if marker in link:
            return LINK_PREFIX + link.rsplit(marker, 1)[1]
    return LINK_PREFIX + link.rsplit("/", 1)[-1]


async def _render(*, session: AsyncSession, link: SandboxInviteLink) -> dict[str, Any]:
    creator = await get_user(session=session, user_id=link.creator_id)
    data = invite_link_json(link, creator)
    if link.creates_join_request:
        pending = await session.exec(
            select(SandboxJoinRequest).where(
                SandboxJoinRequest.invite_link == link.invite_link,
                SandboxJoinRequest.status == "pending",
            )
        )
        data["pending_join_request_count"] = len(pending.all())
    return data


async def create_invite_link(
    *,
    session: AsyncSession,
    chat_id: int,
    creator_id: int,
    name: str | None = None,
    expire_date: datetime | None = None,
    member_limit: int | None = None,
    creates_join_request: bool = False,
) -> dict[str, Any]:
    """A new additional link; the creator needs `can_invite_users`."""
    chat = await get_chat(session=session, chat_id=chat_id)
    if chat.type == "private":
        raise bad_request("method is available for supergroup and group chats only")
    standing = await get_member(session=session, chat_id=chat.id, user_id=creator_id)
    if not has_right(standing, "can_invite_users"):
        raise bad_request(f"{NOT_ENOUGH_RIGHTS} to manage chat invite link")
    if creates_join_request and member_limit:
        raise bad_request(
            "member limit can't be specified for links requiring administrator approval"
        )
    if member_limit is not None and not 1 <= member_limit <= 99999:
        raise bad_request("USAGE_LIMIT_INVALID")
    if name is not None and len(name) > 32:
        raise bad_request("invite link name is too long")
    link = SandboxInviteLink(
        invite_link=new_link_hash(),
        chat_id=chat.id,
        creator_id=creator_id,
        name=name or None,
        expire_date=expire_date,
        member_limit=member_limit,
        creates_join_request=creates_join_request,
    )
    session.add(link)
    await session.flush()
    return await _render(session=session, link=link)


async def revoke_invite_link(
    *, session: AsyncSession, chat_id: int, invite_link: str, by_user_id: int
) -> dict[str, Any]:
    """Revokes a link; revoking the primary link makes a new primary, as Telegram does."""
    standing = await get_member(session=session, chat_id=chat_id, user_id=by_user_id)
    if not has_right(standing, "can_invite_users"):
        raise bad_request(f"{NOT_ENOUGH_RIGHTS} to manage chat invite link")
    link = await session.get(SandboxInviteLink, normalize_link(invite_link))
    if link is None or link.chat_id != chat_id:
        raise bad_request(INVITE_EXPIRED)
    link.is_revoked = True
    session.add(link)
    if link.is_primary:
        link.is_primary = False
        session.add(
            SandboxInviteLink(
                invite_link=new_link_hash(),
                chat_id=chat_id,
                creator_id=by_user_id,
                is_primary=True,
            )
        )
    await session.flush()
    return await _render(session=session, link=link)


async def invite_links(*, session: AsyncSession, chat_id: int) -> list[dict[str, Any]]:
    await get_chat(session=session, chat_id=chat_id)
    rows = await session.exec(
        select(SandboxInviteLink)
        .where(SandboxInviteLink.chat_id == chat_id)
        .order_by(col(SandboxInviteLink.created_at))
    )
    return [await _render(session=session, link=link) for link in rows.all()]


async def _usable_link(*, session: AsyncSession, invite_link: str) -> SandboxInviteLink:
    link = await session.get(SandboxInviteLink, normalize_link(invite_link))
    if link is None or link.is_revoked:
        raise bad_request(INVITE_EXPIRED)
    if link.expire_date is not None and aware(link.expire_date) <= utcnow():
        raise bad_request(INVITE_EXPIRED)
    if link.member_limit is not None and link.uses >= link.member_limit:
        raise bad_request("USERS_TOO_MUCH")
    return link


async def _check_can_join(*, session: AsyncSession, chat: SandboxChat, user_id: int) -> None:
    standing = await get_member(session=session, chat_id=chat.id, user_id=user_id)
    if is_member(standing):
        raise bad_request("USER_ALREADY_PARTICIPANT")
    if standing is not None and standing.status == "kicked":
        raise bad_request("USER_BANNED_IN_CHANNEL")


async def join(
    *, session: AsyncSession, chat_id: int, user_id: int, invite_link: str | None = None
) -> dict[str, Any]:
    """A user joins, directly or by a link that needs no approval."""
    chat = await get_chat(session=session, chat_id=chat_id)
    user = await get_user(session=session, user_id=user_id)
    await _check_can_join(session=session, chat=chat, user_id=user.id)
    link = None
    if invite_link is not None:
        link = await _usable_link(session=session, invite_link=invite_link)
        if link.chat_id != chat.id:
            raise bad_request("the invite link belongs to another chat")
        if link.creates_join_request:
            raise bad_request("this invite link needs approval: send a join request")
        link.uses += 1
        session.add(link)
    return await change_member(
        session=session, chat=chat, user=user, status="member", actor=user, invite_link=link
    )


async def request_join(
    *, session: AsyncSession, chat_id: int, user_id: int, invite_link: str
) -> dict[str, Any]:
    """A user asks to join by a link with `creates_join_request`; admin bots that may
    invite users get a `chat_join_request` update."""
    chat = await get_chat(session=session, chat_id=chat_id)
    user = await get_user(session=session, user_id=user_id)
    await _check_can_join(session=session, chat=chat, user_id=user.id)
    link = await _usable_link(session=session, invite_link=invite_link)
    if link.chat_id != chat.id:
        raise bad_request("the invite link belongs to another chat")
    if not link.creates_join_request:
        raise bad_request("this invite link needs no approval: join directly")
    request = await session.get(SandboxJoinRequest, (chat.id, user.id))
    payload = {
        "chat": await chat_json(session=session, chat=chat),
        "from": user_json(user),
        "user_chat_id": user.id,
        "date": unix(utcnow()),
        "invite_link": await _render(session=session, link=link),
    }
    if request is not None and request.status == "pending":
        return payload
    request = request or SandboxJoinRequest(chat_id=chat.id, user_id=user.id)
    request.invite_link, request.status, request.date = link.invite_link, "pending", utcnow()
    session.add(request)
    await session.flush()
    payload["invite_link"] = await _render(session=session, link=link)
    for bot in await bots_in_chat(session=session, chat=chat):
        standing = await get_member(session=session, chat_id=chat.id, user_id=bot.id)
        if has_right(standing, "can_invite_users"):
            await enqueue(session=session, bot=bot, kind="chat_join_request", payload=payload)
    return payload


async def use_invite_link(
    *, session: AsyncSession, user_id: int, invite_link: str
) -> dict[str, Any]:
    """What tapping a link does: join, or send a join request when the link asks for one."""
    link = await _usable_link(session=session, invite_link=invite_link)
    chat = await get_chat(session=session, chat_id=link.chat_id)
    if link.creates_join_request:
        await request_join(
            session=session, chat_id=chat.id, user_id=user_id, invite_link=link.invite_link
        )
        status = "requested"
    else:
        await join(session=session, chat_id=chat.id, user_id=user_id, invite_link=link.invite_link)
        status = "joined"
    return {"status": status, "chat": await chat_json(session=session, chat=chat)}


async def decide_join_request(
    *, session: AsyncSession, chat_id: int, user_id: int, by_user_id: int, approve: bool
) -> bool:
    """Approves (the user joins, `via_join_request`) or declines a pending request."""
    chat = await get_chat(session=session, chat_id=chat_id)
    standing = await get_member(session=session, chat_id=chat.id, user_id=by_user_id)
    if not has_right(standing, "can_invite_users"):
        raise bad_request(f"{NOT_ENOUGH_RIGHTS} to manage join requests")
    request = await session.get(SandboxJoinRequest, (chat.id, user_id))
    if request is None or request.status != "pending":
        raise bad_request("HIDE_REQUESTER_MISSING")
    request.status = "approved" if approve else "declined"
    session.add(request)
    if approve:
        link = await session.get(SandboxInviteLink, request.invite_link or "")
        if link is not None:
            link.uses += 1
            session.add(link)
        user = await get_user(session=session, user_id=user_id)
        await change_member(
            session=session,
            chat=chat,
            user=user,
            status="member",
            actor=await get_user(session=session, user_id=by_user_id),
            invite_link=link,
            via_join_request=True,
            message_from=user,
        )
    await session.flush()
    return True


async def join_requests(*, session: AsyncSession, chat_id: int) -> list[dict[str, Any]]:
    rows = await session.exec(
        select(SandboxJoinRequest).where(
            SandboxJoinRequest.chat_id == chat_id, SandboxJoinRequest.status == "pending"
        )
    )
    result = []
    for row in rows.all():
        user = await get_user(session=session, user_id=row.user_id)
        result.append(
            {"user": user_json(user), "invite_link": row.invite_link, "date": unix(row.date)}
        )
    return result


async def export_primary_link(*, session: AsyncSession, chat_id: int, by_user_id: int) -> str:
    """exportChatInviteLink: a fresh primary link; the previous primary one is revoked."""
    standing = await get_member(session=session, chat_id=chat_id, user_id=by_user_id)
    if not has_right(standing, "can_invite_users"):
        raise bad_request(f"{NOT_ENOUGH_RIGHTS} to manage chat invite link")
    found = await session.exec(
        select(SandboxInviteLink).where(
            SandboxInviteLink.chat_id == chat_id,
            col(SandboxInviteLink.is_primary).is_(True),
        )
    )
    for old in found.all():
        old.is_primary, old.is_revoked = False, True
        session.add(old)
    link = SandboxInviteLink(
        invite_link=new_link_hash(), chat_id=chat_id, creator_id=by_user_id, is_primary=True
    )
    session.add(link)
    await session.flush()
    return link.invite_link
