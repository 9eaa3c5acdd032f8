"""Members' commands: `/points` (score, rank and why), `/top`, `/rules`, `/invite`.

In a group, `/points` answers privately when it can; otherwise, and for `/top`, the group
reply deletes itself after `REPLY_TTL` seconds so that the chat stays readable (a deletion is
stored, so it happens even if the gateway restarts meanwhile).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.filters import Command
from aiogram.types import Message, Update
from aiogram.utils.markdown import html_decoration as hd
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import pending, texts
from bot.handlers import group
from engagement import board, epochs, review, rules
from engagement.rules import SINCE_ALWAYS

log = logging.getLogger(__name__)
Sessions = async_sessionmaker[AsyncSession]
AfterCommit = list[Callable[[], None]]


@dataclass(frozen=True, slots=True)
class Deps:
    """What storing a deletion needs: the update's transaction, and a way to a fresh one."""

    session: AsyncSession
    sessions: Sessions
    after_commit: AfterCommit


REPLY_TTL = 60.0
GROUPS = F.chat.type.in_({"group", "supergroup"})


def create_router() -> Router:
    router = Router(name=__name__)
    # Ordinary chat never reaches the command filters below.
    router.message.filter(F.text.startswith("/"))
    router.message.register(points_in_group, Command("points"), GROUPS)
    router.message.register(points_in_private, Command("points"), F.chat.type == "private")
    router.message.register(top, Command("top"), GROUPS)
    router.message.register(show_rules, Command("rules"), GROUPS)
    router.message.register(invite, Command("invite"), GROUPS)
    return router


async def delete_later(message: Message, sent: Message, *, bot: Bot, deps: Deps) -> None:
    """Deletes a group reply and the command it answers after `REPLY_TTL` seconds; stored
    with the update, so a restart meanwhile does not leave them behind (see `bot.pending`)."""
    await pending.delete_later(
        bot=bot,
        session=deps.session,
        sessions=deps.sessions,
        after_commit=deps.after_commit,
        chat_id=message.chat.id,
        message_ids=(sent.message_id, message.message_id),
        delay=REPLY_TTL,
    )


async def report(
    session: AsyncSession, *, chat_id: int, title: str, member_id: int, compact_name: str = ""
) -> str:
    """The member's score in the group's open epoch, with its explanation."""
    epoch = await epochs.current(session=session, chat_id=chat_id)
    if epoch is None or epoch.id is None:
        return texts.no_points_yet()
    detail = await board.breakdown(session=session, epoch_id=epoch.id, member_id=member_id)
    if not detail.by_kind and not detail.not_counted:
        return texts.no_points_yet()
    place = await board.rank(
        session=session, epoch_id=epoch.id, chat_id=chat_id, points=detail.total
    )
    standing = await review.standing(session=session, chat_id=chat_id, member_id=member_id)
    excluded = standing is not None and standing.status == review.EXCLUDED
    if compact_name:
        parts = ", ".join(
            f"{texts.kind_label(kind)} {points}" for kind, points in detail.by_kind.items()
        )
        return texts.points_compact(hd.quote(compact_name), detail.total, place, parts)
    lines = [texts.points_header(hd.quote(title), epoch.number, detail.total, place)]
    lines += [texts.points_line(texts.kind_label(k), v) for k, v in detail.by_kind.items()]
    lines.append(texts.counted_messages(detail.counted_messages))
    if detail.not_counted:
        lines.append(texts.not_counted_header())
        lines += [
            texts.not_counted_line(texts.reason_label(rule), count)
            for rule, count in detail.not_counted.items()
        ]
    if excluded and standing is not None:
        lines.append(texts.excluded_line(hd.quote(standing.reason)))
    return "\n".join(lines)


async def points_in_group(
    message: Message,
    *,
    session: AsyncSession,
    bot: Bot,
    event_update: Update,
    sessions: Sessions,
    after_commit: AfterCommit,
) -> None:
    await group.record(message, session, event_update.update_id)
    user = message.from_user
    if user is None:
        return
    title = message.chat.title or str(message.chat.id)
    full = await report(session, chat_id=message.chat.id, title=title, member_id=user.id)
    try:
        await bot.send_message(user.id, full)
        answer = texts.sent_privately(hd.quote(user.first_name))
    except (TelegramForbiddenError, TelegramBadRequest):
        answer = await report(
            session,
            chat_id=message.chat.id,
            title=title,
            member_id=user.id,
            compact_name=user.first_name,
        )
    sent = await message.reply(answer)
    await delete_later(message, sent, bot=bot, deps=Deps(session, sessions, after_commit))


async def points_in_private(message: Message, session: AsyncSession) -> None:
    user = message.from_user
    if user is None:
        return
    groups = await board.overview(session=session, member_id=user.id)
    if not groups:
        await message.answer(texts.no_groups())
        return
    reports = [
        await report(session, chat_id=g.chat_id, title=g.title, member_id=user.id)
        for g in groups[:5]
    ]
    await message.answer("\n\n".join(reports))


async def top(
    message: Message,
    *,
    session: AsyncSession,
    bot: Bot,
    event_update: Update,
    sessions: Sessions,
    after_commit: AfterCommit,
) -> None:
    await group.record(message, session, event_update.update_id)
    chat = message.chat
    text = await leaderboard_text(session, chat_id=chat.id, title=chat.title or str(chat.id))
    sent = await message.reply(text)
    await delete_later(message, sent, bot=bot, deps=Deps(session, sessions, after_commit))


async def leaderboard_text(session: AsyncSession, *, chat_id: int, title: str) -> str:
    """The open epoch's top ten, excluded members left out."""
    epoch = await epochs.current(session=session, chat_id=chat_id)
    if epoch is None or epoch.id is None:
        return texts.top_empty()
    leaders = await board.leaderboard(session=session, epoch_id=epoch.id, chat_id=chat_id)
    if not leaders:
        return texts.top_empty()
    lines = [texts.top_header(hd.quote(title), epoch.number)]
    lines += [
        texts.top_line(place, hd.quote(s.name), s.points)
        for place, s in enumerate(leaders, start=1)
    ]
    return "\n".join(lines)


async def show_rules(message: Message, session: AsyncSession, event_update: Update) -> None:
    """Anyone may read the rules: scoring is only fair if everyone can see how it works."""
    await group.record(message, session, event_update.update_id)
    await message.reply(await rules_text(session, message.chat.id))


async def rules_text(session: AsyncSession, chat_id: int) -> str:
    await rules.ensure_initial(session=session, chat_id=chat_id)
    version, current = await rules.current(session=session, chat_id=chat_id)
    history = await rules.history(session=session, chat_id=chat_id)
    since = next((r.effective_at for r in history if r.version == version), SINCE_ALWAYS)
    header = (
        texts.rules_header_defaults(version)
        if since == SINCE_ALWAYS
        else texts.rules_header(version, since.strftime("%Y-%m-%d %H:%M UTC"))
    )
    lines = [header]
    lines += [
        texts.rules_line(key, hd.quote(str(value)), hd.quote(description))
        for key, value, description in rules.settings_table(current)
    ]
    lines.append(texts.rules_footer())
    return "\n".join(lines)


async def invite(
    message: Message,
    *,
    session: AsyncSession,
    bot: Bot,
    event_update: Update,
    sessions: Sessions,
    after_commit: AfterCommit,
) -> None:
    """Creates the member's own invite link; joins through it credit them."""
    await group.record(message, session, event_update.update_id)
    user = message.from_user
    if user is None:
        return
    try:
        link = await bot.create_chat_invite_link(
            message.chat.id, name=f"{group.REFERRAL_PREFIX}{user.id}"
        )
    except TelegramAPIError as exc:
        log.info("invite link for %s in %s refused: %s", user.id, message.chat.id, exc)
        await message.reply(texts.invite_failed())
        return
    text = texts.invite_link(hd.quote(message.chat.title or ""), link.invite_link)
    try:
        await bot.send_message(user.id, text)
    except (TelegramForbiddenError, TelegramBadRequest):
        await message.reply(texts.start_me_first())
        return
    sent = await message.reply(texts.sent_privately(hd.quote(user.first_name)))
    await delete_later(message, sent, bot=bot, deps=Deps(session, sessions, after_commit))
