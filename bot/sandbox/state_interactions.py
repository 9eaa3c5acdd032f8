"""Reactions and inline-button presses, and the bot's answers to those presses."""

from __future__ import annotations

import secrets
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.sandbox.errors import bad_request
from bot.sandbox.state_core import (
    bots_in_chat,
    bump_revision,
    enqueue,
    get_chat,
    get_member,
    get_user,
    is_admin,
    unix,
)
from bot.sandbox.state_messages import check_can_post, get_message, reaction_counts
from bot.sandbox.views import chat_instance, chat_json, message_json, user_json
from core.clock import utcnow
from core.models_sandbox import (
    SandboxBot,
    SandboxCallbackQuery,
    SandboxChat,
    SandboxMessage,
    SandboxReaction,
)

# The emoji Telegram accepts as ReactionTypeEmoji (it stores them without U+FE0F).
_REACTION_LIST = (
    "❤ 👍 👎 🔥 🥰 👏 😁 🤔 🤯 😱 🤬 😢 🎉 🤩 🤮 💩 🙏 👌 🕊 🤡 🥱 🥴 😍 🐳 ❤\u200d🔥 🌚 🌭 "
    "💯 🤣 ⚡ 🍌 🏆 💔 🤨 😐 🍓 🍾 💋 🖕 😈 😴 😭 🤓 👻 👨\u200d💻 👀 🎃 🙈 😇 😨 🤝 ✍ 🤗 🫡 "
    "🎅 🎄 ☃ 💅 🤪 🗿 🆒 💘 🙉 🦄 😘 💊 🙊 😎 👾 🤷\u200d♂ 🤷 🤷\u200d♀ 😡"
)
REACTION_EMOJI = frozenset(_REACTION_LIST.split())
MAX_REACTIONS = 3
QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"


def normalize_reactions(emoji: list[str]) -> list[str]:
    """Telegram's spelling of each emoji, in order, without repeats; refuses unknown ones."""
    result: list[str] = []
    for raw in emoji:
        item = raw.replace("\ufe0f", "").strip()
        if item not in REACTION_EMOJI:
            raise bad_request("REACTION_INVALID")
        if item not in result:
            result.append(item)
    if len(result) > MAX_REACTIONS:
        raise bad_request("REACTIONS_TOO_MANY")
    return result


def _reaction_types(emoji: list[str]) -> list[dict[str, str]]:
    return [{"type": "emoji", "emoji": item} for item in emoji]


async def store_reaction(
    *, session: AsyncSession, message: SandboxMessage, user_id: int, emoji: list[str]
) -> list[str]:
    """Replaces the user's reactions on a message; returns the previous ones."""
    row = await session.get(SandboxReaction, (message.chat_id, message.message_id, user_id))
    old = list(row.emoji) if row is not None else []
    if old == emoji:
        return old
    if row is not None and not emoji:
        await session.delete(row)
    elif row is None:
        session.add(
            SandboxReaction(
                chat_id=message.chat_id,
                message_id=message.message_id,
                user_id=user_id,
                emoji=emoji,
                date=utcnow(),
            )
        )
    else:
        row.emoji, row.date = emoji, utcnow()
        session.add(row)
    message.revision = await bump_revision(session=session, chat_id=message.chat_id)
    session.add(message)
    await session.flush()
    return old


async def react(
    *, session: AsyncSession, chat_id: int, message_id: int, user_id: int, emoji: list[str]
) -> dict[str, Any]:
    """A user sets their reactions ([] removes them). Bots get `message_reaction` only where
    they are administrators and only if they asked for it in allowed_updates."""
    chat = await get_chat(session=session, chat_id=chat_id)
    user = await get_user(session=session, user_id=user_id)
    await check_can_post(session=session, chat=chat, user_id=user.id)
    message = await get_message(session=session, chat_id=chat.id, message_id=message_id)
    new = normalize_reactions(emoji)
    old = await store_reaction(session=session, message=message, user_id=user.id, emoji=new)
    if old != new:
        payload = {
            "chat": await chat_json(session=session, chat=chat),
            "message_id": message.message_id,
            "user": user_json(user),
            "date": unix(utcnow()),
            "old_reaction": _reaction_types(old),
            "new_reaction": _reaction_types(new),
        }
        for bot in await _reaction_bots(session=session, chat=chat):
            await enqueue(session=session, bot=bot, kind="message_reaction", payload=payload)
    counts = await reaction_counts(session=session, chat_id=chat.id, message_ids=[message_id])
    return {"message_id": message_id, "reactions": counts.get(message_id, {})}


async def _reaction_bots(*, session: AsyncSession, chat: SandboxChat) -> list[SandboxBot]:
    bots = await bots_in_chat(session=session, chat=chat)
    if chat.type == "private":
        return bots
    result = []
    for bot in bots:
        if is_admin(await get_member(session=session, chat_id=chat.id, user_id=bot.id)):
            result.append(bot)
    return result


def has_callback_button(message: SandboxMessage, data: str) -> bool:
    keyboard = (message.reply_markup or {}).get("inline_keyboard") or []
    return any(button.get("callback_data") == data for row in keyboard for button in row)


async def press_button(
    *, session: AsyncSession, chat_id: int, message_id: int, user_id: int, callback_data: str
) -> str:
    """A user presses a callback button under a bot's message; returns the callback query id."""
    chat = await get_chat(session=session, chat_id=chat_id)
    user = await get_user(session=session, user_id=user_id)
    await check_can_post(session=session, chat=chat, user_id=user.id)
    message = await get_message(session=session, chat_id=chat.id, message_id=message_id)
    bot = await session.get(SandboxBot, message.from_id)
    if bot is None or not has_callback_button(message, callback_data):
        raise bad_request("the message has no button with this callback_data")
    query = SandboxCallbackQuery(
        id=str(secrets.randbits(62)),
        bot_id=bot.id,
        chat_id=chat.id,
        message_id=message.message_id,
        from_id=user.id,
        data=callback_data,
        created_at=utcnow(),
    )
    session.add(query)
    payload = {
        "id": query.id,
        "from": user_json(user),
        "message": await message_json(session=session, message=message),
        "chat_instance": chat_instance(bot.id, chat.id),
        "data": callback_data,
    }
    await enqueue(session=session, bot=bot, kind="callback_query", payload=payload)
    await session.flush()
    return query.id


async def answer_callback_query(
    *,
    session: AsyncSession,
    bot_id: int,
    callback_query_id: str,
    text: str | None = None,
    show_alert: bool = False,
    url: str | None = None,
) -> bool:
    query = await session.get(SandboxCallbackQuery, callback_query_id)
    if query is None or query.bot_id != bot_id or query.answered:
        raise bad_request(QUERY_INVALID)
    if text is not None and len(text) > 200:
        raise bad_request("MESSAGE_TOO_LONG")
    query.answered, query.answer_text, query.show_alert = True, text, show_alert
    query.url, query.answered_at = url, utcnow()
    session.add(query)
    await session.flush()
    return True


async def callback_answer(*, session: AsyncSession, callback_query_id: str) -> dict[str, Any]:
    """The bot's answer to a press, for the web chat's toast."""
    query = await session.get(SandboxCallbackQuery, callback_query_id)
    if query is None:
        raise bad_request("callback query not found")
    return {
        "id": query.id,
        "answered": query.answered,
        "text": query.answer_text,
        "show_alert": query.show_alert,
        "url": query.url,
    }
