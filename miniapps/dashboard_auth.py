"""Who may open the managers' dashboard: a group's administrators, as Telegram says.

`POST /miniapp/dashboard/session` verifies initData like the members' session, then asks
Telegram (`getChatMember`, through the gateway's bot) whether the member administers the group
the launch came from. Only then does it issue a token for the dashboard's own audience, bound to
that group, which the members' API does not accept (nor the dashboard a member's token). Every
dashboard call asks again, from a cache of `ADMIN_TTL` seconds, so a demoted admin loses access
soon.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNotFound,
)
from fastapi import Depends, Request
from pydantic import BaseModel, Field

from miniapps.auth import InitDataError, verify_init_data
from miniapps.deps import SESSION_TTL, Issuer, bearer_claims, parse_start_param, refuse

AUDIENCE = "townsquare-dashboard"
SCOPE = "dashboard"
MANAGER_STATUSES = frozenset({"creator", "administrator"})
ADMIN_TTL = 30.0
ChatMemberStatus = Callable[[int, int], Awaitable[str]]


NOBODY_THERE = (TelegramBadRequest, TelegramForbiddenError, TelegramNotFound, TelegramMigrateToChat)


class AdminUnknown(Exception):
    """Telegram could not be asked; the caller answers 503 and the manager tries again."""


class AdminCheck:
    """`is_admin(chat, member)` from Telegram, each answer kept for `ttl` seconds."""

    def __init__(self, status: ChatMemberStatus, ttl: float = ADMIN_TTL) -> None:
        self.status = status
        self.ttl = ttl
        self._answers: dict[tuple[int, int], tuple[float, bool]] = {}

    async def is_admin(self, chat_id: int, member_id: int) -> bool:
        key = (chat_id, member_id)
        cached = self._answers.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        try:
            answer = await self.status(chat_id, member_id) in MANAGER_STATUSES
        except NOBODY_THERE:
            # Telegram does not know the chat or the member, or the bot is not in it.
            answer = False
        except TelegramAPIError as exc:
            # Telegram did not answer (network, flood wait, server): not a "no", and not cached.
            raise AdminUnknown(str(exc)) from exc
        self._answers[key] = (time.monotonic() + self.ttl, answer)
        return answer


def bot_status(bot: Any) -> ChatMemberStatus:
    """Asks Telegram (or the sandbox) for a member's status through the gateway's bot."""

    async def status(chat_id: int, member_id: int) -> str:
        member = await bot.get_chat_member(chat_id=chat_id, user_id=member_id)
        value = member.status
        return str(getattr(value, "value", value))

    return status


def admin_check(request: Request) -> AdminCheck:
    """One cache per app, made on first use."""
    check: AdminCheck | None = getattr(request.app.state, "dashboard_admins", None)
    if check is None:
        check = AdminCheck(bot_status(request.app.state.gateway.bot))
        request.app.state.dashboard_admins = check
    return check


Admins = Annotated[AdminCheck, Depends(admin_check)]


async def is_admin(admins: AdminCheck, chat_id: int, member_id: int) -> bool:
    """`admins.is_admin`, with Telegram's silence turned into a 503 for the page."""
    try:
        return await admins.is_admin(chat_id, member_id)
    except AdminUnknown as exc:
        raise refuse(503, "telegram_unavailable") from exc


@dataclass(frozen=True)
class Manager:
    """An administrator of `chat_id`, as the dashboard's token and Telegram both say."""

    member_id: int
    chat_id: int


async def current_manager(request: Request, issuer: Issuer, admins: Admins) -> Manager:
    claims = bearer_claims(request, issuer, audience=AUDIENCE)
    if claims.chat_id is None or not claims.has_scope(SCOPE):
        raise refuse(401, "malformed")
    if not await is_admin(admins, claims.chat_id, int(claims.subject)):
        raise refuse(403, "not_admin")
    return Manager(int(claims.subject), claims.chat_id)


CurrentManager = Annotated[Manager, Depends(current_manager)]


class DashboardSessionIn(BaseModel):
    init_data: str = Field(min_length=1, max_length=8192)
    # A launch from the private chat names the group in the page's address instead.
    chat_id: int | None = Field(default=None, ge=-(2**63), lt=2**63)


@dataclass(frozen=True)
class Launch:
    member_id: int
    first_name: str
    chat_id: int


def launch_of(body: DashboardSessionIn, *, bot_token: str, max_age: int) -> Launch:
    """The member and group of a dashboard launch.

    Raises:
        InitDataError: forged, stale or malformed initData, or no group named.
    """
    data = verify_init_data(body.init_data, bot_token=bot_token, max_age=max_age)
    if data.user is None:
        raise InitDataError("no_user", "initData names no user")
    start = parse_start_param(data.start_param) if data.start_param else None
    if start is not None and body.chat_id is not None and body.chat_id != start.chat_id:
        raise InitDataError("wrong_chat", "the launch names another group")
    chat_id = start.chat_id if start is not None else body.chat_id
    if chat_id is None:
        raise InitDataError("no_group", "open the dashboard from a group")
    return Launch(data.user.id, data.user.first_name, chat_id)


def issue_token(issuer: Any, launch: Launch) -> str:
    return str(
        issuer.issue(
            subject=str(launch.member_id),
            audience=AUDIENCE,
            chat_id=launch.chat_id,
            scopes=(SCOPE,),
            ttl=SESSION_TTL,
        )
    )
