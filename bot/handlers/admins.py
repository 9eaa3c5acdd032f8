"""Who may manage a group: asked of Telegram (`getChatAdministrators`), cached briefly.

Rights are never read from the message itself. The cache lives on the dispatcher, so each
gateway keeps its own, and a change of a member's rights seen in a `chat_member` update drops
the group's entry at once.
"""

from __future__ import annotations

import time
from typing import Any

from aiogram import Bot, Dispatcher

MANAGER_STATUSES = frozenset({"creator", "administrator"})


def status_of(member: Any) -> str:
    """A chat member's status as plain text: aiogram gives an enum or a str, depending."""
    status = member.status
    return str(getattr(status, "value", status))


class AdminCache:
    """The administrator ids of each group, kept for `ttl` seconds."""

    def __init__(self, ttl: float = 60.0) -> None:
        self.ttl = ttl
        self._admins: dict[int, tuple[float, frozenset[int]]] = {}

    async def is_admin(self, bot: Bot, chat_id: int, user_id: int) -> bool:
        cached = self._admins.get(chat_id)
        if cached is None or cached[0] < time.monotonic():
            members = await bot.get_chat_administrators(chat_id)
            ids = frozenset(m.user.id for m in members if status_of(m) in MANAGER_STATUSES)
            cached = self._admins[chat_id] = (time.monotonic() + self.ttl, ids)
        return user_id in cached[1]

    def forget(self, chat_id: int) -> None:
        self._admins.pop(chat_id, None)


def admin_cache(dispatcher: Dispatcher) -> AdminCache:
    cache = dispatcher.workflow_data.get("admin_cache")
    if not isinstance(cache, AdminCache):
        cache = dispatcher.workflow_data["admin_cache"] = AdminCache()
    return cache
