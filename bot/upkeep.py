"""The gateway's background upkeep: sweeping self-deleting replies that are due, scanning the
groups for sybil signals, closing epochs that reached their end, and telling managers of new
flags in a private message (once per batch of new flags, see `engagement.flag_notices`).

`start(gateway)` launches it with the gateway; each job runs at start-up and then every
interval of its setting, and a failing round is logged and retried at the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.utils.i18n import I18n
from aiogram.utils.markdown import html_decoration as hd
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import pending, texts
from bot.i18n import create_i18n, pick_locale
from core.clock import utcnow
from core.db import transaction
from core.models import Chat, Member
from engagement import epochs, flag_notices, sybil
from engagement.flag_notices import NewFlag

log = logging.getLogger(__name__)
AfterCommit = list[Callable[[], None]]
Sessions = async_sessionmaker[AsyncSession]
READY_TIMEOUT = 30.0
READY_MAX_DELAY = 2.0
_tasks: set[asyncio.Task[Any]] = set()


def _keep(task: asyncio.Task[Any]) -> None:
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def scan_groups(sessions: Sessions, *, now: datetime | None = None) -> int:
    """Scans every group with an open epoch; an epoch past its end is closed at its end
    instead (closing scans too). Returns how many groups were scanned."""
    moment = now or utcnow()
    async with sessions() as session:
        found = await flag_notices.open_epochs(session=session)
    for chat_id, epoch_id, ends_at in found:
        async with transaction(sessions) as session:
            if ends_at is not None and ends_at <= moment:
                await epochs.close(session=session, chat_id=chat_id, at=ends_at, open_next=False)
            else:
                await sybil.scan(session=session, chat_id=chat_id, epoch_id=epoch_id, now=moment)
    return len(found)


def notice_text(title: str, flags: list[NewFlag]) -> str:
    """The managers' notice of a batch of new flags, one line per member."""
    by_member: defaultdict[tuple[int, str], list[str]] = defaultdict(list)
    for flag in flags:
        by_member[flag.member_id, flag.name].append(
            f"{texts.flag_label(flag.code)} ({hd.quote(flag.detail)})"
        )
    lines = [
        texts.flags_line(hd.quote(name), member_id, "; ".join(reasons), False)
        for (member_id, name), reasons in by_member.items()
    ]
    return texts.flags_notice(hd.quote(title), len(by_member), "\n".join(lines))


async def tell_managers(bot: Bot, sessions: Sessions, i18n: I18n, chat_id: int) -> int:
    """Claims the group's new flags and tells each of its human administrators privately,
    in their language. Returns how many managers were told."""
    async with transaction(sessions) as session:
        flags = await flag_notices.claim(session=session, chat_id=chat_id)
        chat = await session.get(Chat, chat_id) if flags else None
    if not flags:
        return 0
    title = (chat.title if chat is not None else None) or str(chat_id)
    try:
        admins = await bot.get_chat_administrators(chat_id)
    except TelegramAPIError as exc:
        log.info("new flags in %s, but its administrators are unknown: %s", chat_id, exc)
        return 0
    told = 0
    for admin in admins:
        if admin.user.is_bot:
            continue
        async with sessions() as session:
            member = await session.get(Member, admin.user.id)
        language = member.language_code if member is not None else admin.user.language_code
        locale = pick_locale(language, i18n.available_locales, i18n.default_locale)
        with i18n.context(), i18n.use_locale(locale):
            text = notice_text(title, flags)
        with contextlib.suppress(TelegramForbiddenError, TelegramBadRequest):
            await bot.send_message(admin.user.id, text)
            told += 1
    return told


async def notify_all(bot: Bot, sessions: Sessions, i18n: I18n) -> int:
    """Tells the managers of every group with new flags; returns how many were told."""
    async with sessions() as session:
        chats = await flag_notices.pending_chats(session=session)
    return sum([await tell_managers(bot, sessions, i18n, chat_id) for chat_id in chats])


def tell_managers_later(
    bot: Bot, dispatcher: Dispatcher, i18n: I18n, after_commit: AfterCommit, chat_id: int
) -> None:
    """Tells the managers of a group's new flags once the current update has committed."""
    sessions: Sessions = dispatcher.workflow_data["sessions"]

    def launch() -> None:
        _keep(asyncio.create_task(_logged(tell_managers(bot, sessions, i18n, chat_id))))

    after_commit.append(launch)


async def _logged(job: Awaitable[Any]) -> None:
    try:
        await job
    except Exception:
        log.exception("upkeep job failed; it runs again at the next round")


async def _every(interval: float, job: Callable[[], Awaitable[Any]]) -> None:
    while True:
        await _logged(job())
        await asyncio.sleep(interval)


async def _ready(bot: Bot) -> None:
    """Waits until the Bot API answers (in the sandbox it is served by this very gateway),
    asking less and less often (from every 0.1 s to every `READY_MAX_DELAY` s): a Bot API that
    is down should not cost the gateway CPU while it serves."""
    deadline = asyncio.get_running_loop().time() + READY_TIMEOUT
    delay = 0.1
    while True:
        try:
            await bot.get_me()
            return
        except TelegramAPIError:
            if asyncio.get_running_loop().time() > deadline:
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, READY_MAX_DELAY)


async def run(bot: Bot, sessions: Sessions, settings: Any) -> None:
    """Runs the upkeep jobs until cancelled."""
    await _ready(bot)
    i18n = create_i18n(settings.default_locale)

    async def flags() -> None:
        await scan_groups(sessions)
        await notify_all(bot, sessions, i18n)

    jobs = [_every(settings.deletion_sweep_interval, lambda: pending.sweep(bot, sessions))]
    if settings.sybil_scan_interval > 0:
        jobs.append(_every(settings.sybil_scan_interval, flags))
    await asyncio.gather(*jobs)


def start(gateway: Any) -> asyncio.Task[None]:
    """The upkeep task of a running gateway (the gateway cancels it when it stops)."""
    return asyncio.create_task(run(gateway.bot, gateway.sessions, gateway.settings))
