"""What a bot does to messages through the Bot API: post, edit, delete, react.

Each check mirrors Telegram's, with its wording, so a bot meets the same refusals here.
"""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.sandbox.errors import CHAT_NOT_FOUND, SandboxError, bad_request, forbidden
from bot.sandbox.formatting import format_text
from bot.sandbox.markup import check_markup
from bot.sandbox.state_core import bump_revision, find_chat, get_member, has_right, is_member
from bot.sandbox.state_interactions import normalize_reactions, store_reaction
from bot.sandbox.state_messages import check_text, get_message, mark_deleted, store_message
from bot.sandbox.views import message_json
from core.clock import utcnow
from core.models_sandbox import (
    SandboxBot,
    SandboxChat,
    SandboxChatMember,
    SandboxMessage,
    SandboxUser,
)


async def bot_chat(
    *, session: AsyncSession, bot: SandboxBot, ref: int | str
) -> tuple[SandboxChat, SandboxChatMember | None]:
    """The chat behind `chat_id` if the bot may act in it, with the bot's standing there."""
    try:
        chat = await find_chat(session=session, ref=ref)
    except SandboxError:
        user = await session.get(SandboxUser, ref) if isinstance(ref, int) and ref > 0 else None
        if user is not None:
            raise forbidden("bot can't initiate conversation with a user") from None
        raise
    if chat.type == "private":
        if chat.peer_bot_id != bot.id:
            raise forbidden("bot can't initiate conversation with a user")
        return chat, None
    member = await get_member(session=session, chat_id=chat.id, user_id=bot.id)
    if member is None:
        raise bad_request(CHAT_NOT_FOUND)
    if member.status == "kicked":
        raise forbidden(f"bot was kicked from the {chat.type} chat")
    if not is_member(member):
        raise forbidden(f"bot is not a member of the {chat.type} chat")
    return chat, member


async def bot_send_message(
    *,
    session: AsyncSession,
    bot: SandboxBot,
    chat_ref: int | str,
    text: str,
    parse_mode: str | None = None,
    entities: list[dict[str, Any]] | None = None,
    reply_to: int | None = None,
    allow_without_reply: bool = False,
    reply_markup: Any = None,
) -> dict[str, Any]:
    chat, member = await bot_chat(session=session, bot=bot, ref=chat_ref)
    if (
        member is not None
        and member.status == "restricted"
        and not (member.rights or {}).get("can_send_messages")
    ):
        raise bad_request("not enough rights to send text messages to the chat")
    plain, found = format_text(check_text(text), parse_mode, entities)
    check_text(plain)
    if reply_to is not None:
        target = await session.get(SandboxMessage, (chat.id, reply_to))
        if target is None or target.deleted:
            if not allow_without_reply:
                raise bad_request("message to be replied not found")
            reply_to = None
    message = await store_message(
        session=session,
        chat=chat,
        from_id=bot.id,
        text=plain,
        entities=found,
        reply_to=reply_to,
        reply_markup=check_markup(reply_markup, chat),
    )
    return await message_json(session=session, message=message)


async def _own_message(
    *, session: AsyncSession, bot: SandboxBot, chat_ref: int | str, message_id: int
) -> tuple[SandboxChat, SandboxMessage]:
    chat, _ = await bot_chat(session=session, bot=bot, ref=chat_ref)
    message = await get_message(session=session, chat_id=chat.id, message_id=message_id)
    if message.from_id != bot.id or message.text is None:
        raise bad_request("message can't be edited")
    return chat, message


async def bot_edit_message(
    *,
    session: AsyncSession,
    bot: SandboxBot,
    chat_ref: int | str,
    message_id: int,
    text: str | None,
    parse_mode: str | None = None,
    entities: list[dict[str, Any]] | None = None,
    reply_markup: Any = None,
) -> dict[str, Any]:
    """editMessageText (text given) or editMessageReplyMarkup (text None). As at Telegram,
    leaving out reply_markup removes the inline keyboard."""
    chat, message = await _own_message(
        session=session, bot=bot, chat_ref=chat_ref, message_id=message_id
    )
    markup = check_markup(reply_markup, chat)
    plain, found = message.text, message.entities
    if text is not None:
        plain, found_list = format_text(check_text(text), parse_mode, entities)
        found = found_list or None
    if (plain, found, markup) == (message.text, message.entities, message.reply_markup):
        raise bad_request(
            "message is not modified: specified new message content and reply markup are "
            "exactly the same as a current content and reply markup of the message"
        )
    message.text, message.entities, message.reply_markup = plain, found, markup
    message.edit_date = utcnow()
    message.revision = await bump_revision(session=session, chat_id=chat.id)
    session.add(message)
    await session.flush()
    return await message_json(session=session, message=message)


async def bot_delete_message(
    *, session: AsyncSession, bot: SandboxBot, chat_ref: int | str, message_id: int
) -> bool:
    chat, member = await bot_chat(session=session, bot=bot, ref=chat_ref)
    message = await session.get(SandboxMessage, (chat.id, message_id))
    if message is None or message.deleted:
        raise bad_request("message to delete not found")
    own = message.from_id == bot.id
    if not own and chat.type != "private" and not has_right(member, "can_delete_messages"):
        raise bad_request("message can't be deleted")
    await mark_deleted(session=session, message=message)
    return True


async def bot_set_reaction(
    *,
    session: AsyncSession,
    bot: SandboxBot,
    chat_ref: int | str,
    message_id: int,
    reaction: list[dict[str, Any]] | None,
) -> bool:
    chat, _ = await bot_chat(session=session, bot=bot, ref=chat_ref)
    message = await get_message(session=session, chat_id=chat.id, message_id=message_id)
    items = reaction or []
    if any(not isinstance(item, dict) or item.get("type") != "emoji" for item in items):
        raise bad_request("REACTION_INVALID")
    emoji = normalize_reactions([str(item.get("emoji", "")) for item in items])
    if len(emoji) > 1:
        raise bad_request("REACTIONS_TOO_MANY")
    await store_reaction(session=session, message=message, user_id=bot.id, emoji=emoji)
    return True
