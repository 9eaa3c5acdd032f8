"""Campaigns and epochs of a group: which epoch a cause lands in, and the epoch's life cycle.

A group runs one campaign at a time; a campaign is a sequence of consecutive epochs, numbered
per group. An epoch is `open` (points land in it), then `closed` (frozen: its ledger and the
rules in force are final), then `published` (its allocation is out). Points land in the epoch
that is open and whose `[starts_at, ends_at)` contains the cause's date; a cause dated in an
epoch that has closed since is not credited at all, so a closed epoch never changes.
A group's first epoch is open since 1970, so that history delivered late still counts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, update
from sqlalchemy import select as core_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import utcnow
from core.models_engagement import Campaign, Epoch, RuleSet
from engagement import rules as rules_mod
from engagement import sql, sybil

DEFAULT_CAMPAIGN = "default"
OPEN, CLOSED, PUBLISHED = "open", "closed", "published"


class EpochError(ValueError):
    """An epoch transition that is not allowed (closing a closed epoch, publishing an open one)."""


def _epochs() -> Any:
    return Epoch.__table__  # type: ignore[attr-defined]


def epoch_at(chat_id: Any, at: Any) -> Any:
    """A scalar subquery: the id of the open epoch containing `at`, or None."""
    t = _epochs()
    return (
        core_select(t.c.id)
        .where(
            t.c.chat_id == chat_id,
            t.c.state == OPEN,
            t.c.starts_at <= at,
            or_(t.c.ends_at.is_(None), t.c.ends_at > at),
        )
        .order_by(t.c.starts_at.desc())
        .limit(1)
        .scalar_subquery()
    )


async def find_open(*, session: AsyncSession, chat_id: int, at: datetime) -> int | None:
    """The id of the open epoch containing `at`, if any."""
    value = await sql.scalar(session, core_select(epoch_at(chat_id, at)))
    return None if value is None else int(value)


async def has_epochs(*, session: AsyncSession, chat_id: int) -> bool:
    """Whether the group was ever set up with an epoch."""
    t = _epochs()
    stmt = core_select(func.count()).select_from(t).where(t.c.chat_id == chat_id)
    return bool(await sql.scalar(session, stmt))


async def ensure_setup(*, session: AsyncSession, chat_id: int) -> None:
    """Gives a group its default rules (version 1), its default campaign and epoch 1.

    Safe to run concurrently: every insert yields to a row another transaction wrote.
    """
    await rules_mod.ensure_initial(session=session, chat_id=chat_id)
    if await has_epochs(session=session, chat_id=chat_id):
        return
    campaign_id = await campaign_of(session=session, chat_id=chat_id, name=DEFAULT_CAMPAIGN)
    stmt = (
        sql.upsert(session, Epoch)
        .values(
            chat_id=chat_id,
            campaign_id=campaign_id,
            number=1,
            state=OPEN,
            starts_at=rules_mod.SINCE_ALWAYS,
        )
        .on_conflict_do_nothing()
    )
    await sql.run(session, stmt)


async def campaign_of(*, session: AsyncSession, chat_id: int, name: str) -> int:
    """The id of the group's campaign `name`, created if it does not exist yet."""
    insert = (
        sql.upsert(session, Campaign)
        .values(chat_id=chat_id, name=name, created_at=utcnow())
        .on_conflict_do_nothing()
    )
    await sql.run(session, insert)
    stmt = select(Campaign.id).where(col(Campaign.chat_id) == chat_id, col(Campaign.name) == name)
    return int((await session.exec(stmt)).one() or 0)


async def current(*, session: AsyncSession, chat_id: int) -> Epoch | None:
    """The group's open epoch (the newest, if a manager ever left two open)."""
    stmt = (
        select(Epoch)
        .where(col(Epoch.chat_id) == chat_id, col(Epoch.state) == OPEN)
        .order_by(col(Epoch.number).desc())
        .limit(1)
    )
    return (await session.exec(stmt)).first()


async def by_number(*, session: AsyncSession, chat_id: int, number: int) -> Epoch | None:
    """A group's epoch by its number, or None."""
    stmt = select(Epoch).where(col(Epoch.chat_id) == chat_id, col(Epoch.number) == number)
    return (await session.exec(stmt)).first()


async def listing(*, session: AsyncSession, chat_id: int) -> list[Epoch]:
    """Every epoch of a group, oldest first."""
    stmt = select(Epoch).where(col(Epoch.chat_id) == chat_id).order_by(col(Epoch.number))
    return list((await session.exec(stmt)).all())


async def is_open(*, session: AsyncSession, epoch_id: int) -> bool:
    """Whether an epoch still takes points."""
    epoch = await session.get(Epoch, epoch_id)
    return epoch is not None and epoch.state == OPEN


async def rules_in_force(
    *, session: AsyncSession, chat_id: int, starts_at: datetime, ends_at: datetime | None
) -> list[dict[str, Any]]:
    """The rule versions that applied during `[starts_at, ends_at)`, oldest first."""
    t = RuleSet.__table__  # type: ignore[attr-defined]
    first = rules_mod.version_at(chat_id, starts_at)
    later = t.c.effective_at > starts_at
    if ends_at is not None:
        later = and_(later, t.c.effective_at < ends_at)
    stmt = (
        core_select(t.c.version, t.c.effective_at, t.c.rules)
        .where(t.c.chat_id == chat_id, or_(t.c.version == first, later))
        .order_by(t.c.version)
    )
    found = await sql.rows(session, stmt)
    return [{"version": v, "effective_at": at.isoformat(), "rules": body} for v, at, body in found]


async def close(
    *, session: AsyncSession, chat_id: int, at: datetime | None = None, open_next: bool = True
) -> tuple[Epoch, Epoch | None]:
    """Closes the open epoch at `at` (now by default), freezing the rules in force with it,
    and opens the next epoch of the same campaign from that instant. The sybil detectors run
    first, so the epoch's flags are ready for review.

    Raises:
        EpochError: the group has no open epoch.
    """
    epoch = await current(session=session, chat_id=chat_id)
    if epoch is None:
        msg = "no open epoch"
        raise EpochError(msg)
    # Whole seconds, like Telegram's dates, so every cause falls clearly on one side.
    at = at or utcnow().replace(microsecond=0)
    if at <= epoch.starts_at:
        msg = "an epoch cannot end before it starts"
        raise EpochError(msg)
    snapshot = await rules_in_force(
        session=session, chat_id=chat_id, starts_at=epoch.starts_at, ends_at=at
    )
    if epoch.id is not None:
        # The sybil scan runs at every close, so its flags are there when managers review
        # the epoch before its allocation.
        await sybil.scan(session=session, chat_id=chat_id, epoch_id=epoch.id, now=at)
    # Guarded on the state, so two managers closing at once cannot both succeed.
    t = _epochs()
    result = await sql.run(
        session,
        update(t)
        .where(t.c.id == epoch.id, t.c.state == OPEN)
        .values(state=CLOSED, ends_at=at, closed_at=utcnow(), rules=snapshot),
    )
    if result.rowcount != 1:
        msg = "the epoch was closed meanwhile"
        raise EpochError(msg)
    await session.refresh(epoch)
    following = None
    if open_next:
        following = Epoch(
            chat_id=chat_id,
            campaign_id=epoch.campaign_id,
            number=epoch.number + 1,
            state=OPEN,
            starts_at=at,
        )
        session.add(following)
        await session.flush()
    return epoch, following


async def publish(*, session: AsyncSession, chat_id: int, number: int) -> Epoch:
    """Marks a closed epoch published.

    Raises:
        EpochError: no such epoch, or it is not closed.
    """
    epoch = await by_number(session=session, chat_id=chat_id, number=number)
    if epoch is None or epoch.state != CLOSED:
        msg = f"epoch {number} is not closed"
        raise EpochError(msg)
    epoch.state = PUBLISHED
    epoch.published_at = utcnow()
    session.add(epoch)
    await session.flush()
    return epoch


async def start_campaign(*, session: AsyncSession, chat_id: int, name: str) -> Epoch:
    """Starts a new campaign now: the open epoch closes and the campaign's first epoch opens."""
    await ensure_setup(session=session, chat_id=chat_id)
    closed, _ = await close(session=session, chat_id=chat_id, open_next=False)
    campaign_id = await campaign_of(session=session, chat_id=chat_id, name=name[:64])
    epoch = Epoch(
        chat_id=chat_id,
        campaign_id=campaign_id,
        number=closed.number + 1,
        state=OPEN,
        starts_at=closed.ends_at or utcnow(),
    )
    session.add(epoch)
    await session.flush()
    return epoch
