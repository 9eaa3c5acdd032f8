"""Managers' commands: `/setrules`, `/grant`, `/penalize`, `/flags`, `/exclude`, `/clear`.

Each checks with Telegram that the sender administers the group (see `admins`); anyone else
gets a short refusal and nothing changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram import Bot, Dispatcher, F, Router
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.filters import Command, CommandObject
from aiogram.types import InlineKeyboardMarkup, Message, Update
from aiogram.utils.i18n import I18n
from aiogram.utils.markdown import html_decoration as hd
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import texts
from bot.handlers import group
from bot.handlers.admins import admin_cache
from bot.i18n import create_i18n, pick_locale
from core.clock import utcnow
from core.models import Member
from engagement import epochs, grants, review, rules, sybil

if TYPE_CHECKING:
    from miniapps.dashboard_settle import ReviewNotice, ReviewNotifier


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(F.chat.type.in_({"group", "supergroup"}), F.text.startswith("/"))
    router.message.register(set_rules, Command("setrules"))
    router.message.register(grant, Command("grant", "penalize"))
    router.message.register(exclude, Command("exclude", "clear"))
    router.message.register(flags, Command("flags"))
    return router


async def allowed(
    message: Message, session: AsyncSession, bot: Bot, dispatcher: Dispatcher, update: Update
) -> bool:
    """Records the command and tells whether its sender is one of the group's administrators."""
    await group.record(message, session, update.update_id)
    user = message.from_user
    if (
        user is not None
        and not user.is_bot
        and await admin_cache(dispatcher).is_admin(bot, message.chat.id, user.id)
    ):
        return True
    await message.reply(texts.managers_only())
    return False


async def target_of(
    message: Message, session: AsyncSession, args: list[str]
) -> tuple[tuple[int, str] | None, list[str]]:
    """The member a command is about: the author of the replied-to message, or the first
    argument (`@username` or id); returns it with the remaining arguments."""
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and not replied.from_user.is_bot:
        return (replied.from_user.id, replied.from_user.first_name), args
    if not args:
        return None, args
    found = await review.find_member(session=session, chat_id=message.chat.id, handle=args[0])
    return found, args[1:]


async def set_rules(
    message: Message,
    *,
    command: CommandObject,
    session: AsyncSession,
    bot: Bot,
    dispatcher: Dispatcher,
    event_update: Update,
) -> None:
    if not await allowed(message, session, bot, dispatcher, event_update):
        return
    if not command.args:
        await message.reply(texts.setrules_usage())
        return
    chat_id = message.chat.id
    await rules.ensure_initial(session=session, chat_id=chat_id)
    version, current = await rules.current(session=session, chat_id=chat_id)
    try:
        changes = rules.parse_form(command.args)
        updated = rules.apply_changes(current, changes)
    except rules.RulesError as exc:
        problems = "\n".join(f"• {hd.quote(p)}" for p in exc.problems)
        await message.reply(texts.setrules_refused(problems, version))
        return
    by = message.from_user.id if message.from_user else None
    row = await rules.set_rules(
        session=session, chat_id=chat_id, rules=updated, by=by, note=command.args[:256]
    )
    before = {key: value for key, value, _ in rules.settings_table(current)}
    lines = [
        f"<code>{key}</code>: {hd.quote(str(before.get(key, '-')))} → {hd.quote(str(value))}"
        for key, value, _ in rules.settings_table(updated)
        if before.get(key) != value
    ]
    await message.reply(texts.setrules_done(row.version, "\n".join(lines) or "-"))


async def grant(
    message: Message,
    *,
    command: CommandObject,
    session: AsyncSession,
    bot: Bot,
    dispatcher: Dispatcher,
    event_update: Update,
) -> None:
    """`/grant` adds points, `/penalize` takes them away; both need a reason."""
    if not await allowed(message, session, bot, dispatcher, event_update):
        return
    target, rest = await target_of(message, session, (command.args or "").split())
    if target is None or not rest or not rest[0].isdigit() or len(rest) < 2:
        await message.reply(texts.grant_usage(command.command))
        return
    member_id, name = target
    points = int(rest[0]) * (-1 if command.command == "penalize" else 1)
    reason = " ".join(rest[1:])
    try:
        await grants.manual(
            session=session,
            chat_id=message.chat.id,
            member_id=member_id,
            points=points,
            by=message.from_user.id if message.from_user else 0,
            reason=reason,
            update_id=event_update.update_id,
        )
    except grants.GrantError as exc:
        await message.reply(texts.grant_refused(hd.quote(str(exc))))
        return
    done = texts.granted if points > 0 else texts.penalized
    await message.reply(done(hd.quote(name), abs(points), hd.quote(reason)))


async def tell(
    bot: Bot, member_id: int, text: str, reply_markup: InlineKeyboardMarkup | None = None
) -> bool:
    """Writes to a member privately; False if they never started a chat with the bot."""
    try:
        await bot.send_message(member_id, text, reply_markup=reply_markup)
    except (TelegramForbiddenError, TelegramBadRequest):
        return False
    return True


async def exclude(
    message: Message,
    *,
    command: CommandObject,
    session: AsyncSession,
    bot: Bot,
    dispatcher: Dispatcher,
    event_update: Update,
    i18n: I18n,
) -> None:
    """`/exclude` leaves a member out of the allocation (with a reason); `/clear` undoes it."""
    if not await allowed(message, session, bot, dispatcher, event_update):
        return
    args = (command.args or "").split()
    target, rest = await target_of(message, session, args)
    excluding = command.command == "exclude"
    if target is None and args and message.reply_to_message is None:
        await message.reply(texts.unknown_member())
        return
    if target is None or excluding and not rest:
        await message.reply(texts.member_usage(command.command))
        return
    member_id, name = target
    reason = " ".join(rest)
    await review.decide(
        session=session,
        chat_id=message.chat.id,
        member_id=member_id,
        status=review.EXCLUDED if excluding else review.CLEARED,
        by=message.from_user.id if message.from_user else None,
        reason=reason,
    )
    # The notice goes to the member, in the member's language, not the manager's.
    with i18n.use_locale(await locale_of(session, member_id, i18n)):
        notice = review_notice(message.chat.title or "", command.command, reason)
    told = await tell(bot, member_id, notice)
    if excluding:
        await message.reply(texts.excluded_done(hd.quote(name), told))
    else:
        await message.reply(texts.cleared_done(hd.quote(name)))


def review_notice(chat_title: str, action: str, reason: str) -> str:
    """What a member is told when a manager excludes or clears them, in the current locale."""
    title = hd.quote(chat_title)
    if action == "exclude":
        return texts.excluded_notice(title, hd.quote(reason))
    return texts.cleared_notice(title)


def review_notifier(default_locale: str = "en") -> ReviewNotifier:
    """Tells a member of a decision made on the dashboard, as `/exclude` and `/clear` do."""
    i18n = create_i18n(default_locale)

    async def notify(bot: Bot, notice: ReviewNotice) -> bool:
        locale = pick_locale(notice.language_code, i18n.available_locales, i18n.default_locale)
        with i18n.context(), i18n.use_locale(locale):
            text = review_notice(notice.chat_title, notice.action, notice.reason)
        return await tell(bot, notice.member_id, text)

    return notify


async def locale_of(session: AsyncSession, member_id: int, i18n: I18n) -> str:
    """The member's Telegram language if the bot speaks it, else the bot's default."""
    member = await session.get(Member, member_id)
    language = member.language_code if member is not None else None
    return pick_locale(language, i18n.available_locales, i18n.default_locale)


async def flags(
    message: Message,
    *,
    session: AsyncSession,
    bot: Bot,
    dispatcher: Dispatcher,
    event_update: Update,
) -> None:
    """Runs the sybil detectors and lists the members they flag."""
    if not await allowed(message, session, bot, dispatcher, event_update):
        return
    chat_id = message.chat.id
    epoch = await epochs.current(session=session, chat_id=chat_id)
    if epoch is not None and epoch.id is not None:
        await sybil.scan(session=session, chat_id=chat_id, epoch_id=epoch.id, now=utcnow())
    found = await review.open_flags(session=session, chat_id=chat_id)
    if not found:
        await message.reply(texts.flags_none())
        return
    lines = [texts.flags_header()]
    for view in found:
        reasons = "; ".join(
            f"{texts.flag_label(code)} ({hd.quote(detail)})" for code, detail in view.codes
        )
        lines.append(texts.flags_line(hd.quote(view.name), view.member_id, reasons, view.excluded))
    await message.reply("\n".join(lines))
