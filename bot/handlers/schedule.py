"""Managers' campaigns and epochs: `/campaign`, `/epoch open|close` and `/epochs`.

Like the other managers' commands, each checks with Telegram that the sender administers the
group; a refused form or time gets its reason and changes nothing. Closing an epoch runs the
sybil scan (see `engagement.epochs.close`), and managers hear of new flags at once.
"""

from __future__ import annotations

from datetime import datetime

from aiogram import Bot, Dispatcher, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message, Update
from aiogram.utils.i18n import I18n
from aiogram.utils.markdown import html_decoration as hd
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import texts
from bot.handlers.manage import allowed
from bot.upkeep import AfterCommit, tell_managers_later
from core.clock import utcnow
from engagement import schedule
from engagement.schedule import ScheduleError

TIME_LAYOUT = "%Y-%m-%d %H:%M"


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(F.chat.type.in_({"group", "supergroup"}), F.text.startswith("/"))
    router.message.register(campaign, Command("campaign"))
    router.message.register(epoch, Command("epoch"))
    router.message.register(list_epochs, Command("epochs"))
    return router


def when(moment: datetime | None) -> str:
    return moment.strftime(TIME_LAYOUT) if moment is not None else texts.no_end()


def refusal(error: ScheduleError) -> str:
    params = {
        key: when(value) if isinstance(value, datetime) else hd.quote(str(value))
        for key, value in error.params.items()
    }
    return texts.schedule_refused(texts.schedule_problem(error.code, **params))


async def campaign(
    message: Message,
    *,
    command: CommandObject,
    session: AsyncSession,
    bot: Bot,
    dispatcher: Dispatcher,
    event_update: Update,
) -> None:
    """`/campaign NAME [start=..] [end=..]`: a new campaign and its first epoch."""
    if not await allowed(message, session, bot, dispatcher, event_update):
        return
    args = (command.args or "").split()
    if not args or "=" in args[0]:
        await message.reply(texts.epochs_usage())
        return
    await _open(message, session, args[1:], campaign_name=args[0])


async def epoch(
    message: Message,
    *,
    command: CommandObject,
    session: AsyncSession,
    bot: Bot,
    dispatcher: Dispatcher,
    event_update: Update,
    i18n: I18n,
    after_commit: AfterCommit,
) -> None:
    """`/epoch open [start=..] [end=..]` or `/epoch close [at=..]`."""
    if not await allowed(message, session, bot, dispatcher, event_update):
        return
    action, *args = (command.args or "").split() or [""]
    if action == "open":
        await _open(message, session, args, campaign_name=None)
        return
    if action != "close":
        await message.reply(texts.epochs_usage())
        return
    try:
        at = _close_time(args)
        closed = await schedule.close_epoch(
            session=session, chat_id=message.chat.id, now=utcnow(), at=at
        )
    except ScheduleError as error:
        await message.reply(refusal(error))
        return
    await message.reply(texts.epoch_closed(closed.number, when(closed.ends_at)))
    # The close ran the sybil scan; its new flags reach the managers once this commits.
    tell_managers_later(bot, dispatcher, i18n, after_commit, message.chat.id)


def _close_time(args: list[str]) -> datetime | None:
    if not args:
        return None
    key, sep, value = args[0].partition("=")
    if len(args) > 1 or key != "at" or not sep:
        raise ScheduleError("bad_form", value=" ".join(args))
    return schedule.parse_time(value)


async def _open(
    message: Message, session: AsyncSession, args: list[str], *, campaign_name: str | None
) -> None:
    try:
        window = schedule.parse_window(args)
        opened = await schedule.open_epoch(
            session=session,
            chat_id=message.chat.id,
            window=window,
            now=utcnow(),
            campaign=campaign_name,
        )
    except ScheduleError as error:
        await message.reply(refusal(error))
        return
    name = campaign_name or await schedule.campaign_name(session=session, epoch=opened)
    await message.reply(
        texts.epoch_opened(
            opened.number, hd.quote(name), when(opened.starts_at), when(opened.ends_at)
        )
    )


async def list_epochs(
    message: Message,
    *,
    session: AsyncSession,
    bot: Bot,
    dispatcher: Dispatcher,
    event_update: Update,
) -> None:
    if not await allowed(message, session, bot, dispatcher, event_update):
        return
    lines = await schedule.listing(session=session, chat_id=message.chat.id)
    if not lines:
        await message.reply(texts.epochs_none())
        return
    body = [texts.epochs_header()]
    body += [
        texts.epochs_line(
            line.number,
            hd.quote(line.campaign),
            texts.epoch_state(line.state),
            when(line.starts_at),
            when(line.ends_at),
        )
        for line in lines
    ]
    await message.reply("\n".join(body))
