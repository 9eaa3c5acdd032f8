"""Points to an author for replies and reactions from other members, and to referrers.

Each (message, kind, member) is one cause, so a member counts once per message however often
they react. The per-message cap keeps the first `max_per_message` members by date; see
`scoring.interaction_changes` for why the outcome does not depend on delivery order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import from_timestamp
from core.models import ChatMessage
from core.models_engagement import InteractionTarget
from engagement import epochs, ledger, rules, sql, state
from engagement.scoring import interaction_changes

KINDS = ("reply", "reaction")


async def author_of(
    *, session: AsyncSession, chat_id: int, message_id: int
) -> tuple[int, datetime] | None:
    """The recorded author and date of a group message, if the bot saw it."""
    t = ChatMessage.__table__  # type: ignore[attr-defined]
    stmt = select(t.c.member_id, t.c.sent_at).where(
        t.c.chat_id == chat_id, t.c.message_id == message_id
    )
    found = await sql.rows(session, stmt)
    return (int(found[0][0]), found[0][1]) if found else None


async def credit(
    *,
    session: AsyncSession,
    chat_id: int,
    message_id: int,
    kind: str,
    author_id: int,
    target_sent_at: datetime,
    actor_id: int,
    at: datetime,
    update_id: int,
) -> list[ledger.Entry]:
    """Counts one member's reply to, or reaction on, another member's message.

    `at` is the interaction's effective date; the cap comes from the rules in force when the
    message was sent, the points from those in force at `at`.
    """
    if kind not in KINDS:
        msg = f"unknown interaction kind {kind!r}"
        raise ValueError(msg)
    if actor_id == author_id:
        return []
    t = InteractionTarget.__table__  # type: ignore[attr-defined]
    stmt = sql.upsert(session, InteractionTarget).values(
        chat_id=chat_id, message_id=message_id, kind=kind, author_id=author_id, actors={}
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["chat_id", "message_id", "kind"], set_={"author_id": t.c.author_id}
    ).returning(
        t.c.actors,
        t.c.author_id,
        rules.version_at(chat_id, at).label("version"),
        rules.version_at(chat_id, target_sent_at).label("cap_version"),
        epochs.epoch_at(chat_id, at).label("epoch"),
        state.bot_status(chat_id).label("bot_status"),
    )
    row = (await sql.run(session, stmt)).one()
    if row.bot_status in state.ABSENT:
        return []
    version, epoch_id = await state.resolve_context(
        session=session, chat_id=chat_id, at=at, version=row.version, epoch_id=row.epoch
    )
    if version is None or epoch_id is None:
        return []
    now_rules = await rules.load_version(session=session, chat_id=chat_id, version=version)
    cap_rules = now_rules
    if row.cap_version is not None and row.cap_version != version:
        cap_rules = await rules.load_version(
            session=session, chat_id=chat_id, version=row.cap_version
        )
    per = now_rules.interactions
    points = per.reply_points if kind == "reply" else per.reaction_points
    table, changes = interaction_changes(
        row.actors,
        actor=actor_id,
        ts=int(at.timestamp()),
        points=points,
        epoch_id=epoch_id,
        cap=cap_rules.interactions.max_per_message,
        rule=kind,
    )
    for change in changes:
        # A closed epoch never changes: a newcomer that would push out a member counted in
        # it is not counted either.
        if change.epoch_id != epoch_id and not await epochs.is_open(
            session=session, epoch_id=change.epoch_id
        ):
            return []
    entries = [
        ledger.Entry(
            chat_id=chat_id,
            epoch_id=change.epoch_id,
            member_id=int(row.author_id),
            kind=kind,
            rule=change.rule,
            points=change.points,
            rules_version=version,
            cause=ledger.interaction_cause(kind, message_id, change.actor),
            revision=change.revision,
            occurred_at=at if change.points > 0 else _held_at(row.actors, change.actor),
            update_id=update_id,
            message_id=message_id,
            actor_id=change.actor,
        )
        for change in changes
    ]
    written = await ledger.append(session=session, entries=entries)
    await sql.run(session, _set_actors(chat_id, message_id, kind, table))
    return written


def _held_at(actors: dict[str, Any], actor: int) -> datetime:
    """When a counted member's interaction happened (a take-back is dated like the credit)."""
    return from_timestamp(actors[str(actor)][0])


async def react(
    *,
    session: AsyncSession,
    chat_id: int,
    message_id: int,
    actor_id: int,
    at: datetime,
    update_id: int,
) -> list[ledger.Entry]:
    """A member's reaction on a group message: credits its author, or, if the message has not
    arrived yet (deliveries can cross), is kept until it does (see `resolve_pending`)."""
    found = await author_of(session=session, chat_id=chat_id, message_id=message_id)
    if found is not None:
        author_id, sent_at = found
        return await credit(
            session=session,
            chat_id=chat_id,
            message_id=message_id,
            kind="reaction",
            author_id=author_id,
            target_sent_at=sent_at,
            actor_id=actor_id,
            at=at,
            update_id=update_id,
        )
    t = InteractionTarget.__table__  # type: ignore[attr-defined]
    stmt = sql.upsert(session, InteractionTarget).values(
        chat_id=chat_id,
        message_id=message_id,
        kind="reaction",
        author_id=state.UNKNOWN_AUTHOR,
        actors={},
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["chat_id", "message_id", "kind"], set_={"author_id": t.c.author_id}
    ).returning(t.c.actors)
    actors = dict((await sql.run(session, stmt)).one().actors)
    ts, key = int(at.timestamp()), str(actor_id)
    if key not in actors or actors[key][0] > ts:
        actors[key] = [ts, 0, 0, -1]
        await sql.run(session, _set_actors(chat_id, message_id, "reaction", actors))
    return []


def _set_actors(
    chat_id: int, message_id: int, kind: str, actors: dict[str, Any], **extra: Any
) -> Any:
    t = InteractionTarget.__table__  # type: ignore[attr-defined]
    return (
        update(t)
        .where(t.c.chat_id == chat_id, t.c.message_id == message_id, t.c.kind == kind)
        .values(actors=actors, **extra)
    )


async def resolve_pending(
    *,
    session: AsyncSession,
    chat_id: int,
    message_id: int,
    author_id: int,
    sent_at: datetime,
    update_id: int,
) -> list[ledger.Entry]:
    """Credits the reactions that arrived before their message, in date order."""
    t = InteractionTarget.__table__  # type: ignore[attr-defined]
    stmt = select(t.c.actors).where(
        t.c.chat_id == chat_id, t.c.message_id == message_id, t.c.kind == "reaction"
    )
    found = await sql.rows(session, stmt)
    if not found:
        return []
    waiting = sorted((entry[0], int(actor)) for actor, entry in found[0][0].items())
    await sql.run(session, _set_actors(chat_id, message_id, "reaction", {}, author_id=author_id))
    written: list[ledger.Entry] = []
    for ts, actor in waiting:
        written += await credit(
            session=session,
            chat_id=chat_id,
            message_id=message_id,
            kind="reaction",
            author_id=author_id,
            target_sent_at=sent_at,
            actor_id=actor,
            at=from_timestamp(ts),
            update_id=update_id,
        )
    return written
