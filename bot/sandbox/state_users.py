"""Users and bots of the sandbox, and the chats a user sees."""

from __future__ import annotations

import re
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.sandbox.errors import bad_request
from bot.sandbox.state_core import (
    get_bot,
    get_user,
    is_member,
    next_value,
)
from bot.sandbox.views import (
    chat_json,
    user_json,
)
from core.models_sandbox import (
    SandboxBot,
    SandboxChat,
    SandboxChatMember,
    SandboxUser,
)

BOT_USERNAME = "townsquare_sandbox_bot"
BOT_FIRST_NAME = "Townsquare"
USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{2,31}$")
FIRST_USER_ID = 700_000_001


async def ensure_bot(
    *, session: AsyncSession, token: str, username: str | None = None, first_name: str | None = None
) -> dict[str, Any]:
    """Registers the bot behind `token` (id = the number before ':'); idempotent."""
    head, _, secret = token.partition(":")
    if not head.isdigit() or not secret:
        raise bad_request("invalid bot token")
    bot_id = int(head)
    user = await session.get(SandboxUser, bot_id)
    if user is None:
        user = SandboxUser(
            id=bot_id,
            is_bot=True,
            first_name=first_name or BOT_FIRST_NAME,
            username=username or await _bot_username(session=session, bot_id=bot_id),
        )
        session.add(user)
    bot = await session.get(SandboxBot, bot_id)
    if bot is None:
        session.add(SandboxBot(id=bot_id, token=token))
    elif bot.token != token:
        bot.token = token
        session.add(bot)
    await session.flush()
    return user_json(user)


async def _bot_username(*, session: AsyncSession, bot_id: int) -> str:
    taken = await session.exec(select(SandboxUser).where(SandboxUser.username == BOT_USERNAME))
    return BOT_USERNAME if taken.first() is None else f"townsquare_{bot_id}_bot"


async def bot_by_token(*, session: AsyncSession, token: str) -> SandboxBot | None:
    return (await session.exec(select(SandboxBot).where(SandboxBot.token == token))).first()


async def create_user(
    *,
    session: AsyncSession,
    first_name: str,
    username: str | None = None,
    language_code: str | None = "en",
    last_name: str | None = None,
) -> dict[str, Any]:
    """A new person in the sandbox, with a fresh positive id."""
    first_name = first_name.strip()
    if not first_name or len(first_name) > 64:
        raise bad_request("first_name must have 1 to 64 characters")
    if username:
        username = username.strip().removeprefix("@")
        if not USERNAME.match(username):
            raise bad_request("username must be 3-32 letters, digits or _ and start with a letter")
        found = await session.exec(
            select(SandboxUser).where(col(SandboxUser.username).ilike(username))
        )
        if found.first() is not None:
            raise bad_request(f"username @{username} is taken")
    user = SandboxUser(
        id=await next_value(session=session, name="user", start=FIRST_USER_ID),
        first_name=first_name,
        last_name=last_name or None,
        username=username or None,
        language_code=language_code,
    )
    session.add(user)
    await session.flush()
    return user_json(user)


async def list_users(*, session: AsyncSession, include_bots: bool = False) -> list[dict[str, Any]]:
    query = select(SandboxUser).order_by(col(SandboxUser.created_at), col(SandboxUser.id))
    if not include_bots:
        query = query.where(col(SandboxUser.is_bot).is_(False))
    return [user_json(user) for user in (await session.exec(query)).all()]


async def private_chat_with_bot(
    *, session: AsyncSession, user_id: int, bot_id: int | None = None
) -> dict[str, Any]:
    """The user's private chat with the bot (id = the user's id), opened if need be."""
    user = await get_user(session=session, user_id=user_id)
    if user.is_bot:
        raise bad_request("bots can't open private chats with bots")
    chat = await session.get(SandboxChat, user.id)
    if chat is None:
        bot = await get_bot(session=session, bot_id=bot_id)
        chat = SandboxChat(id=user.id, type="private", peer_bot_id=bot.id)
        session.add(chat)
        await session.flush()
    return await chat_json(session=session, chat=chat)


async def chats_for_user(*, session: AsyncSession, user_id: int) -> list[dict[str, Any]]:
    """The private chat with the bot (if opened) and every group the user belongs to."""
    result = []
    private = await session.get(SandboxChat, user_id)
    if private is not None:
        result.append(await chat_json(session=session, chat=private))
    rows = await session.exec(
        select(SandboxChat, SandboxChatMember)
        .join(SandboxChatMember, col(SandboxChatMember.chat_id) == col(SandboxChat.id))
        .where(SandboxChatMember.user_id == user_id)
        .order_by(col(SandboxChat.created_at))
    )
    for chat, member in rows.all():
        if is_member(member):
            result.append(await chat_json(session=session, chat=chat))
    return result
