"""Bot API methods about chats and members: lookups, invite links, join requests, bans."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from bot.sandbox import state_bot, state_links, state_moderation
from bot.sandbox.botapi_methods import Call, Method, registry
from bot.sandbox.errors import bad_request
from bot.sandbox.state_core import is_admin, is_member
from bot.sandbox.views import chat_full_json, member_json
from core.models_sandbox import SandboxChatMember, SandboxUser

CHAT_METHODS: dict[str, Method] = {}
method = registry(CHAT_METHODS)


@method("getChat")
async def get_chat(call: Call) -> Any:
    chat, _ = await state_bot.bot_chat(session=call.session, bot=call.bot, ref=call.p.chat_id())
    return await chat_full_json(session=call.session, chat=chat)


@method("getChatMember")
async def get_chat_member(call: Call) -> Any:
    chat, _ = await state_bot.bot_chat(session=call.session, bot=call.bot, ref=call.p.chat_id())
    user = await call.session.get(SandboxUser, call.p.req_int("user_id"))
    if user is None:
        raise bad_request("PARTICIPANT_ID_INVALID")
    if chat.type == "private":
        inside = user.id in (chat.id, call.bot.id)
        standing = SandboxChatMember(chat_id=chat.id, user_id=user.id) if inside else None
        return member_json(user, standing)
    member = await call.session.get(SandboxChatMember, (chat.id, user.id))
    return member_json(user, member)


async def _members(call: Call) -> tuple[Any, list[tuple[SandboxUser, SandboxChatMember]]]:
    chat, _ = await state_bot.bot_chat(session=call.session, bot=call.bot, ref=call.p.chat_id())
    rows = await call.session.exec(
        select(SandboxUser, SandboxChatMember)
        .join(SandboxChatMember, col(SandboxChatMember.user_id) == col(SandboxUser.id))
        .where(SandboxChatMember.chat_id == chat.id)
        .order_by(col(SandboxChatMember.joined_at))
    )
    return chat, [(user, member) for user, member in rows.all()]


@method("getChatAdministrators")
async def get_chat_administrators(call: Call) -> Any:
    chat, members = await _members(call)
    if chat.type == "private":
        raise bad_request("there are no administrators in the private chat")
    return [member_json(user, member) for user, member in members if is_admin(member)]


@method("getChatMemberCount", "getChatMembersCount")
async def get_chat_member_count(call: Call) -> Any:
    chat, members = await _members(call)
    if chat.type == "private":
        return 2
    return sum(1 for _, member in members if is_member(member))


@method("createChatInviteLink")
async def create_chat_invite_link(call: Call) -> Any:
    chat, _ = await state_bot.bot_chat(session=call.session, bot=call.bot, ref=call.p.chat_id())
    return await state_links.create_invite_link(
        session=call.session,
        chat_id=chat.id,
        creator_id=call.bot.id,
        name=call.p.opt_str("name"),
        expire_date=call.p.date("expire_date"),
        member_limit=call.p.opt_int("member_limit"),
        creates_join_request=call.p.flag("creates_join_request"),
    )


@method("revokeChatInviteLink")
async def revoke_chat_invite_link(call: Call) -> Any:
    chat, _ = await state_bot.bot_chat(session=call.session, bot=call.bot, ref=call.p.chat_id())
    return await state_links.revoke_invite_link(
        session=call.session,
        chat_id=chat.id,
        invite_link=call.p.req_str("invite_link"),
        by_user_id=call.bot.id,
    )


@method("exportChatInviteLink")
async def export_chat_invite_link(call: Call) -> Any:
    chat, _ = await state_bot.bot_chat(session=call.session, bot=call.bot, ref=call.p.chat_id())
    return await state_links.export_primary_link(
        session=call.session, chat_id=chat.id, by_user_id=call.bot.id
    )


async def _decide(call: Call, *, approve: bool) -> Any:
    chat, _ = await state_bot.bot_chat(session=call.session, bot=call.bot, ref=call.p.chat_id())
    return await state_links.decide_join_request(
        session=call.session,
        chat_id=chat.id,
        user_id=call.p.req_int("user_id"),
        by_user_id=call.bot.id,
        approve=approve,
    )


@method("approveChatJoinRequest")
async def approve_chat_join_request(call: Call) -> Any:
    return await _decide(call, approve=True)


@method("declineChatJoinRequest")
async def decline_chat_join_request(call: Call) -> Any:
    return await _decide(call, approve=False)


@method("banChatMember", "kickChatMember")
async def ban_chat_member(call: Call) -> Any:
    return await state_moderation.bot_ban(
        session=call.session,
        bot=call.bot,
        chat_ref=call.p.chat_id(),
        user_id=call.p.req_int("user_id"),
        until=call.p.date("until_date"),
        revoke_messages=call.p.flag("revoke_messages"),
    )


@method("unbanChatMember")
async def unban_chat_member(call: Call) -> Any:
    return await state_moderation.bot_unban(
        session=call.session,
        bot=call.bot,
        chat_ref=call.p.chat_id(),
        user_id=call.p.req_int("user_id"),
        only_if_banned=call.p.flag("only_if_banned"),
    )


@method("restrictChatMember")
async def restrict_chat_member(call: Call) -> Any:
    permissions = call.p.obj("permissions")
    if not isinstance(permissions, dict):
        raise bad_request("can't parse permissions JSON object")
    return await state_moderation.bot_restrict(
        session=call.session,
        bot=call.bot,
        chat_ref=call.p.chat_id(),
        user_id=call.p.req_int("user_id"),
        permissions=permissions,
        until=call.p.date("until_date"),
    )


@method("leaveChat")
async def leave_chat(call: Call) -> Any:
    return await state_moderation.bot_leave(
        session=call.session, bot=call.bot, chat_ref=call.p.chat_id()
    )
