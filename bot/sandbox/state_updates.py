"""A bot's server-side settings and update queue: webhook, getUpdates offsets, commands."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.sandbox.errors import bad_request
from bot.sandbox.state_core import get_bot, unix
from core.clock import utcnow
from core.models_sandbox import SandboxBot, SandboxUpdate

MAX_LIMIT = 100


def _pending(bot_id: int) -> Any:
    return select(SandboxUpdate).where(
        SandboxUpdate.bot_id == bot_id, col(SandboxUpdate.confirmed_at).is_(None)
    )


async def pending_updates(
    *, session: AsyncSession, bot_id: int, limit: int = MAX_LIMIT
) -> list[SandboxUpdate]:
    rows = await session.exec(_pending(bot_id).order_by(col(SandboxUpdate.update_id)).limit(limit))
    return list(rows.all())


async def pending_count(*, session: AsyncSession, bot_id: int) -> int:
    query = (
        select(func.count())
        .select_from(SandboxUpdate)
        .where(SandboxUpdate.bot_id == bot_id, col(SandboxUpdate.confirmed_at).is_(None))
    )
    return int((await session.exec(query)).one())


async def confirm(*, session: AsyncSession, bot_id: int, below: int | None = None) -> None:
    """Marks as done every pending update with an id below `below` (all when None)."""
    stmt = (
        update(SandboxUpdate)
        .where(col(SandboxUpdate.bot_id) == bot_id, col(SandboxUpdate.confirmed_at).is_(None))
        .values(confirmed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if below is not None:
        stmt = stmt.where(col(SandboxUpdate.update_id) < below)
    await session.exec(stmt)  # type: ignore[call-overload]


async def get_updates(
    *, session: AsyncSession, bot_id: int, offset: int | None = None, limit: int = MAX_LIMIT
) -> list[dict[str, Any]]:
    """getUpdates without the wait: confirms below `offset`, then returns what is pending.

    A negative offset keeps only the last `-offset` pending updates, as Telegram does.
    """
    limit = max(1, min(limit, MAX_LIMIT))
    if offset is not None and offset < 0:
        newest = await session.exec(
            _pending(bot_id).order_by(col(SandboxUpdate.update_id).desc()).limit(-offset)
        )
        kept = [row.update_id for row in newest.all()]
        if kept:
            await confirm(session=session, bot_id=bot_id, below=min(kept))
    elif offset is not None:
        await confirm(session=session, bot_id=bot_id, below=offset)
    rows = await pending_updates(session=session, bot_id=bot_id, limit=limit)
    return [row.payload for row in rows]


async def mark_delivered(*, session: AsyncSession, bot_id: int, update_id: int) -> None:
    row = await session.get(SandboxUpdate, (bot_id, update_id))
    if row is not None and row.confirmed_at is None:
        row.confirmed_at = utcnow()
        row.attempts += 1
        session.add(row)


async def record_delivery_error(
    *, session: AsyncSession, bot_id: int, update_id: int, message: str
) -> None:
    bot = await get_bot(session=session, bot_id=bot_id)
    bot.last_error_date, bot.last_error_message = utcnow(), message[:500]
    session.add(bot)
    row = await session.get(SandboxUpdate, (bot_id, update_id))
    if row is not None:
        row.attempts += 1
        session.add(row)


def check_allowed_updates(allowed: list[str] | None) -> list[str] | None:
    """Like Telegram, names it does not know are kept and simply never match an update."""
    if allowed is None:
        return None
    return sorted(set(allowed))


async def set_allowed_updates(
    *, session: AsyncSession, bot: SandboxBot, allowed: list[str] | None
) -> None:
    """None keeps the previous choice; an empty list means Telegram's default set."""
    checked = check_allowed_updates(allowed)
    if checked is not None:
        bot.allowed_updates = checked or None
        session.add(bot)


async def set_webhook(
    *,
    session: AsyncSession,
    bot_id: int,
    url: str,
    secret_token: str | None = None,
    allowed_updates: list[str] | None = None,
    drop_pending_updates: bool = False,
    max_connections: int | None = None,
) -> bool:
    bot = await get_bot(session=session, bot_id=bot_id)
    if url and not url.startswith(("http://", "https://")):
        raise bad_request("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
    if secret_token is not None and not _valid_secret(secret_token):
        raise bad_request("secret token contains unallowed characters")
    await set_allowed_updates(session=session, bot=bot, allowed=allowed_updates)
    if bot.webhook_url != url:
        bot.last_error_date, bot.last_error_message = None, None
    bot.webhook_url, bot.webhook_secret = url, secret_token or None
    if max_connections is not None:
        bot.max_connections = max(1, min(max_connections, 100))
    session.add(bot)
    if drop_pending_updates:
        await confirm(session=session, bot_id=bot.id)
    await session.flush()
    return True


def _valid_secret(secret: str) -> bool:
    return 1 <= len(secret) <= 256 and all(
        c.isascii() and (c.isalnum() or c in "_-") for c in secret
    )


async def webhook_info(*, session: AsyncSession, bot_id: int) -> dict[str, Any]:
    bot = await get_bot(session=session, bot_id=bot_id)
    info: dict[str, Any] = {
        "url": bot.webhook_url,
        "has_custom_certificate": False,
        "pending_update_count": await pending_count(session=session, bot_id=bot.id),
    }
    if bot.webhook_url:
        info["max_connections"] = bot.max_connections
        info["ip_address"] = "127.0.0.1"
    if bot.last_error_date is not None:
        info["last_error_date"] = unix(bot.last_error_date)
        info["last_error_message"] = bot.last_error_message or ""
    if bot.allowed_updates:
        info["allowed_updates"] = bot.allowed_updates
    return info


def _commands_key(scope: dict[str, Any] | None, language_code: str | None) -> str:
    return json.dumps(scope or {"type": "default"}, sort_keys=True) + "|" + (language_code or "")


async def set_commands(
    *,
    session: AsyncSession,
    bot: SandboxBot,
    commands: list[dict[str, Any]] | None,
    scope: dict[str, Any] | None = None,
    language_code: str | None = None,
) -> bool:
    """Stores (or, with None, deletes) the command list of one scope and language."""
    stored = dict(bot.commands or {})
    key = _commands_key(scope, language_code)
    if commands:
        stored[key] = [{"command": c["command"], "description": c["description"]} for c in commands]
    else:
        stored.pop(key, None)
    bot.commands = stored
    session.add(bot)
    await session.flush()
    return True


def get_commands(
    bot: SandboxBot, scope: dict[str, Any] | None = None, language_code: str | None = None
) -> list[dict[str, Any]]:
    return list((bot.commands or {}).get(_commands_key(scope, language_code), []))


async def set_menu_button(
    *, session: AsyncSession, bot: SandboxBot, chat_id: int | None, button: dict[str, Any] | None
) -> bool:
    stored = dict(bot.menu_buttons or {})
    stored[str(chat_id or "default")] = button or {"type": "default"}
    bot.menu_buttons = stored
    session.add(bot)
    await session.flush()
    return True


def get_menu_button(bot: SandboxBot, chat_id: int | None) -> dict[str, Any]:
    stored = bot.menu_buttons or {}
    found = stored.get(str(chat_id)) if chat_id else None
    return dict(found or stored.get("default") or {"type": "default"})
