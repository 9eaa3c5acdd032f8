"""Rows rendered as Telegram's JSON objects: User, Chat, ChatMember, Message, ChatInviteLink."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.sandbox.state_core import unix
from core.models_sandbox import (
    SandboxChat,
    SandboxChatMember,
    SandboxInviteLink,
    SandboxMessage,
    SandboxUser,
)

ADMIN_RIGHTS = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_send_welcome_messages",
    "can_pin_messages",
    "can_manage_topics",
)
# What Telegram's app grants a new administrator unless told otherwise.
DEFAULT_ADMIN_RIGHTS = {right: right != "can_promote_members" for right in ADMIN_RIGHTS}
PERMISSIONS = (
    "can_send_messages",
    "can_send_audios",
    "can_send_documents",
    "can_send_photos",
    "can_send_videos",
    "can_send_video_notes",
    "can_send_voice_notes",
    "can_send_polls",
    "can_send_other_messages",
    "can_add_web_page_previews",
    "can_react_to_messages",
    "can_edit_tag",
    "can_change_info",
    "can_invite_users",
    "can_pin_messages",
    "can_manage_topics",
)
DEFAULT_PERMISSIONS = {
    name: name not in ("can_change_info", "can_pin_messages") for name in PERMISSIONS
}


def user_json(user: SandboxUser) -> dict[str, Any]:
    data: dict[str, Any] = {"id": user.id, "is_bot": user.is_bot, "first_name": user.first_name}
    if user.last_name:
        data["last_name"] = user.last_name
    if user.username:
        data["username"] = user.username
    if user.language_code and not user.is_bot:
        data["language_code"] = user.language_code
    return data


def bot_user_json(user: SandboxUser) -> dict[str, Any]:
    """The getMe answer: privacy mode off, so the bot reads every group message."""
    return {
        **user_json(user),
        "can_join_groups": True,
        "can_read_all_group_messages": True,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


async def chat_json(*, session: AsyncSession, chat: SandboxChat) -> dict[str, Any]:
    if chat.type == "private":
        user = await session.get(SandboxUser, chat.id)
        data: dict[str, Any] = {"id": chat.id, "type": "private"}
        if user is not None:
            data.update({k: v for k, v in user_json(user).items() if k in PRIVATE_FIELDS})
        return data
    data = {"id": chat.id, "type": chat.type, "title": chat.title or ""}
    if chat.username:
        data["username"] = chat.username
    return data


PRIVATE_FIELDS = ("first_name", "last_name", "username")


async def chat_full_json(*, session: AsyncSession, chat: SandboxChat) -> dict[str, Any]:
    """getChat's ChatFullInfo."""
    data = await chat_json(session=session, chat=chat)
    data.update(
        {
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }
    )
    if chat.type != "private":
        data["permissions"] = chat.permissions or dict(DEFAULT_PERMISSIONS)
        if chat.description:
            data["description"] = chat.description
    return data


def member_json(user: SandboxUser, member: SandboxChatMember | None) -> dict[str, Any]:
    status = member.status if member is not None else "left"
    data: dict[str, Any] = {"status": status, "user": user_json(user)}
    rights = (member.rights if member is not None else None) or {}
    if status == "creator":
        data["is_anonymous"] = False
    elif status == "administrator":
        data.update({"can_be_edited": False, "is_anonymous": False})
        data.update({right: bool(rights.get(right)) for right in ADMIN_RIGHTS})
    elif status == "restricted":
        data["is_member"] = bool(rights.get("is_member", True))
        data.update({name: bool(rights.get(name)) for name in PERMISSIONS})
        data["until_date"] = unix(member.until_date if member else None)
    elif status == "kicked":
        data["until_date"] = unix(member.until_date if member else None)
    if member is not None and member.custom_title and status in ("creator", "administrator"):
        data["custom_title"] = member.custom_title
    return data


def chat_instance(bot_id: int, chat_id: int) -> str:
    """A stable opaque id of the (bot, chat) pair, like Telegram's `chat_instance`."""
    digest = hashlib.sha256(f"{bot_id}:{chat_id}".encode()).digest()
    return str(int.from_bytes(digest[:8], "big", signed=True))


async def message_json(
    *, session: AsyncSession, message: SandboxMessage, nested: bool = True
) -> dict[str, Any]:
    sender = await session.get(SandboxUser, message.from_id)
    chat = await session.get(SandboxChat, message.chat_id)
    data: dict[str, Any] = {"message_id": message.message_id}
    if sender is not None:
        data["from"] = user_json(sender)
    if chat is not None:
        data["chat"] = await chat_json(session=session, chat=chat)
    data["date"] = unix(message.date)
    if message.edit_date is not None:
        data["edit_date"] = unix(message.edit_date)
    if nested and message.reply_to_message_id is not None:
        target = await session.get(SandboxMessage, (message.chat_id, message.reply_to_message_id))
        if target is not None and not target.deleted:
            data["reply_to_message"] = await message_json(
                session=session, message=target, nested=False
            )
    if message.text is not None:
        data["text"] = message.text
        if message.entities:
            data["entities"] = message.entities
    data.update(message.service or {})
    # Message objects carry only inline keyboards; reply keyboards stay on the client.
    if message.reply_markup and "inline_keyboard" in message.reply_markup:
        data["reply_markup"] = message.reply_markup
    return data


def invite_link_json(link: SandboxInviteLink, creator: SandboxUser) -> dict[str, Any]:
    data: dict[str, Any] = {
        "invite_link": link.invite_link,
        "creator": user_json(creator),
        "creates_join_request": link.creates_join_request,
        "is_primary": link.is_primary,
        "is_revoked": link.is_revoked,
    }
    if link.name:
        data["name"] = link.name
    if link.expire_date is not None:
        data["expire_date"] = unix(link.expire_date)
    if link.member_limit is not None:
        data["member_limit"] = link.member_limit
    return data
