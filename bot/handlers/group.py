"""Group chats: record members and messages, score them into the ledger, follow memberships.

Every group message is recorded; a new one from a member is then scored (see
`engagement.ingest`) in the same transaction, and a reply also credits the replied-to author.
Reactions credit the author of the message; a join through a member's invite link credits
that member once the newcomer takes part.
"""

from __future__ import annotations

from aiogram import Bot, Dispatcher, F, Router
from aiogram.filters import Command
from aiogram.types import (
    ChatInviteLink,
    ChatMemberUpdated,
    Message,
    MessageReactionUpdated,
    Update,
)
from aiogram.types.chat_member_union import ChatMemberUnion
from aiogram.utils.markdown import html_decoration
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import texts
from bot.handlers.admins import MANAGER_STATUSES, admin_cache, status_of
from bot.handlers.group_messages import defer_plain, incoming, record, reply_target, scorable
from bot.inline_filters import group_chatter
from core import repo
from core.clock import utcnow
from engagement import ingest, interactions, invites
from engagement.scoring import effective_time

GROUPS = F.chat.type.in_({"group", "supergroup"})
# Invite links the bot creates for a member (/invite) carry the member's id in their name.
REFERRAL_PREFIX = "ref:"


def install_chatter(dp: Router) -> None:
    """Group messages that are no command go to `record_and_score`, registered on the
    dispatcher `dp` itself: ahead of every router, as nothing else answers them, and without a
    router of their own, as each level of routers costs every update another round of aiogram's
    propagation (most updates are these)."""
    dp.message.register(record_and_score, group_chatter)


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(GROUPS)
    router.my_chat_member.filter(GROUPS)
    router.chat_member.filter(GROUPS)
    router.message_reaction.filter(GROUPS)
    router.message.register(group_help, Command("help", "start"))
    router.message.register(record_and_score)
    router.my_chat_member.register(bot_membership)
    router.chat_member.register(member_changed)
    router.message_reaction.register(reaction)
    return router


async def group_help(message: Message, session: AsyncSession, event_update: Update) -> None:
    await record(message, session, event_update.update_id)
    await message.reply(texts.group_help())


async def record_and_score(message: Message, session: AsyncSession, event_update: Update) -> None:
    if defer_plain(message, session, event_update.update_id):
        return
    if not await record(message, session, event_update.update_id) or not scorable(message):
        return
    assert message.from_user is not None
    scored = await ingest.score_message(
        session=session, msg=incoming(message, event_update.update_id)
    )
    target = reply_target(message)
    if target is None or not scored.qualifies or scored.at is None:
        return
    assert target.from_user is not None
    await interactions.credit(
        session=session,
        chat_id=message.chat.id,
        message_id=target.message_id,
        kind="reply",
        author_id=target.from_user.id,
        target_sent_at=target.date,
        actor_id=message.from_user.id,
        at=scored.at,
        update_id=event_update.update_id,
    )


async def reaction(
    event: MessageReactionUpdated, session: AsyncSession, event_update: Update
) -> None:
    """A member's first reaction on a message credits its author; changes and removals don't."""
    if event.user is None or event.user.is_bot or event.old_reaction or not event.new_reaction:
        return
    await interactions.react(
        session=session,
        chat_id=event.chat.id,
        message_id=event.message_id,
        actor_id=event.user.id,
        at=effective_time(event.date, utcnow().replace(microsecond=0)),
        update_id=event_update.update_id,
    )


async def bot_membership(event: ChatMemberUpdated, session: AsyncSession) -> None:
    status = status_of(event.new_chat_member)
    await repo.set_bot_status(session=session, chat_id=event.chat.id, status=status)
    was_in = status_of(event.old_chat_member) in ("member", "administrator", "creator")
    if status in ("member", "administrator") and not was_in:
        title = html_decoration.quote(event.chat.title or "")
        welcome = texts.added_as_admin if status == "administrator" else texts.added_to_group
        await event.answer(welcome(title))


def is_in(member: ChatMemberUnion) -> bool:
    status = status_of(member)
    if status == "restricted":
        return bool(getattr(member, "is_member", False))
    return status in ("member", "administrator", "creator")


def referrer_of(link: ChatInviteLink | None, *, bot_id: int, invitee_id: int) -> int | None:
    """The member whose own link was used: its creator, or for links the bot made for a member
    (`/invite`), the member named in the link. None for anyone else's or a self-invite."""
    if link is None:
        return None
    referrer: int | None = None
    if not link.creator.is_bot:
        referrer = link.creator.id
    elif link.creator.id == bot_id and (link.name or "").startswith(REFERRAL_PREFIX):
        suffix = (link.name or "")[len(REFERRAL_PREFIX) :]
        referrer = int(suffix) if suffix.isdigit() else None
    return None if referrer == invitee_id else referrer


async def member_changed(
    event: ChatMemberUpdated,
    session: AsyncSession,
    bot: Bot,
    dispatcher: Dispatcher,
    event_update: Update,
) -> None:
    user = event.new_chat_member.user
    if {status_of(event.old_chat_member), status_of(event.new_chat_member)} & MANAGER_STATUSES:
        admin_cache(dispatcher).forget(event.chat.id)
    if user.is_bot:
        return
    await repo.upsert_member(
        session=session,
        id=user.id,
        username=user.username,
        first_name=user.first_name,
        last_name=user.last_name,
        language_code=user.language_code,
        is_bot=user.is_bot,
    )
    await repo.set_membership_status(
        session=session,
        chat_id=event.chat.id,
        member_id=user.id,
        status=status_of(event.new_chat_member),
    )
    joined = not is_in(event.old_chat_member) and is_in(event.new_chat_member)
    referrer = referrer_of(event.invite_link, bot_id=bot.id, invitee_id=user.id)
    if joined and referrer is not None:
        await invites.joined(
            session=session,
            chat_id=event.chat.id,
            invitee_id=user.id,
            referrer_id=referrer,
            joined_at=effective_time(event.date, utcnow().replace(microsecond=0)),
            update_id=event_update.update_id,
        )
