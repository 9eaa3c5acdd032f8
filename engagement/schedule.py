"""Managers' scheduling of campaigns and epochs: opening, closing and listing them.

A manager opens an epoch (optionally as the first of a new campaign) with a start and an end,
closes the open one, and lists them; the form they write is read by `schedule_form`. The
ledger stays append-only and every cause keeps landing in the epoch that was open when it
happened, so a change that would contradict points already earned (an epoch starting before
points of the open one, or one overlapping an earlier epoch) is refused with a reason and
changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlalchemy import select as core_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.models_engagement import Campaign, Epoch, LedgerEntry
from engagement import epochs, sql
from engagement import rules as rules_mod
from engagement.schedule_form import (
    ScheduleError,
    Window,
    check_name,
    check_times,
    parse_time,
    parse_window,
    whole_second,
)

__all__ = [
    "EpochLine",
    "ScheduleError",
    "Window",
    "campaign_name",
    "check_name",
    "check_times",
    "close_epoch",
    "listing",
    "open_epoch",
    "parse_time",
    "parse_window",
    "whole_second",
]


async def _points_since(session: AsyncSession, epoch_id: int, at: datetime) -> int:
    t = LedgerEntry.__table__  # type: ignore[attr-defined]
    stmt = (
        core_select(func.count())
        .select_from(t)
        .where(t.c.epoch_id == epoch_id, t.c.occurred_at >= at)
    )
    return int(await sql.scalar(session, stmt) or 0)


async def _latest(session: AsyncSession, chat_id: int) -> Epoch | None:
    stmt = (
        select(Epoch)
        .where(col(Epoch.chat_id) == chat_id)
        .order_by(col(Epoch.number).desc())
        .limit(1)
    )
    return (await session.exec(stmt)).first()


async def _check_new_campaign(session: AsyncSession, chat_id: int, name: str) -> None:
    stmt = select(Campaign.id).where(col(Campaign.chat_id) == chat_id, col(Campaign.name) == name)
    if (await session.exec(stmt)).first() is not None:
        raise ScheduleError("campaign_exists", name=name)


async def _new_campaign(session: AsyncSession, chat_id: int, name: str, now: datetime) -> int:
    campaign = Campaign(chat_id=chat_id, name=name, created_at=now)
    session.add(campaign)
    await session.flush()
    assert campaign.id is not None
    return campaign.id


async def _end_current(session: AsyncSession, chat_id: int, current: Epoch, at: datetime) -> Epoch:
    """Closes the open epoch at `at` (or at its own end, if that came first)."""
    if current.ends_at is not None and current.ends_at < at:
        at = current.ends_at
    if at <= current.starts_at:
        raise ScheduleError("before_current", number=current.number, start=current.starts_at)
    assert current.id is not None
    late = await _points_since(session, current.id, at)
    if late:
        raise ScheduleError("points_after", number=current.number, at=at, count=late)
    closed, _ = await epochs.close(session=session, chat_id=chat_id, at=at, open_next=False)
    return closed


def _default_start(now: datetime, current: Epoch | None, latest: Epoch | None) -> datetime:
    """The start of an epoch opened now: the next whole second when it ends an open epoch
    (see `whole_second`), else the current second, but never before the last epoch's end."""
    if current is not None:
        return whole_second(now)
    start = now.replace(microsecond=0)
    if latest is not None and latest.ends_at is not None:
        return max(start, latest.ends_at)
    return start


async def open_epoch(
    *,
    session: AsyncSession,
    chat_id: int,
    window: Window,
    now: datetime,
    campaign: str | None = None,
) -> Epoch:
    """Opens the group's next epoch over `window`, closing the open one where it starts.

    With `campaign`, the epoch is the first of a new campaign of that name; otherwise it
    continues the campaign of the group's latest epoch (the default campaign at first).

    Raises:
        ScheduleError: the times or the name are refused, the campaign exists, the open epoch
            already has points after the start, or the start falls inside an earlier epoch.
    """
    name = check_name(campaign) if campaign is not None else None
    if name is not None:
        await _check_new_campaign(session, chat_id, name)
    latest = await _latest(session, chat_id)
    current = await epochs.current(session=session, chat_id=chat_id)
    start, end = window.resolve(_default_start(now, current, latest))
    check_times(start, end, now=now)
    await rules_mod.ensure_initial(session=session, chat_id=chat_id)
    if current is not None:
        latest = await _end_current(session, chat_id, current, start)
    elif latest is not None and latest.ends_at is not None and start < latest.ends_at:
        raise ScheduleError("overlaps", number=latest.number, end=latest.ends_at)
    if name is not None:
        campaign_id = await _new_campaign(session, chat_id, name, now)
    elif latest is not None:
        campaign_id = latest.campaign_id
    else:
        campaign_id = await epochs.campaign_of(
            session=session, chat_id=chat_id, name=epochs.DEFAULT_CAMPAIGN
        )
    epoch = Epoch(
        chat_id=chat_id,
        campaign_id=campaign_id,
        number=(latest.number if latest is not None else 0) + 1,
        state=epochs.OPEN,
        starts_at=start,
        ends_at=end,
    )
    session.add(epoch)
    await session.flush()
    return epoch


async def close_epoch(
    *, session: AsyncSession, chat_id: int, now: datetime, at: datetime | None = None
) -> Epoch:
    """Closes the open epoch at `at` (now by default) without opening another; points stop
    landing until a manager opens the next epoch.

    Raises:
        ScheduleError: `no_open_epoch`, `close_in_future`, or the epoch has points after `at`.
    """
    current = await epochs.current(session=session, chat_id=chat_id)
    if current is None:
        raise ScheduleError("no_open_epoch")
    moment = at or whole_second(now)
    if moment > whole_second(now):
        raise ScheduleError("close_in_future", at=moment)
    return await _end_current(session, chat_id, current, moment)


@dataclass(frozen=True, slots=True)
class EpochLine:
    """One epoch as a manager's listing shows it."""

    number: int
    campaign: str
    state: str
    starts_at: datetime
    ends_at: datetime | None


async def listing(*, session: AsyncSession, chat_id: int, limit: int = 20) -> list[EpochLine]:
    """The group's latest `limit` epochs with their campaigns, oldest first."""
    stmt = (
        select(Epoch, Campaign.name)
        .join(Campaign, col(Campaign.id) == col(Epoch.campaign_id))
        .where(col(Epoch.chat_id) == chat_id)
        .order_by(col(Epoch.number).desc())
        .limit(limit)
    )
    found = (await session.exec(stmt)).all()
    return [
        EpochLine(e.number, name, e.state, e.starts_at, e.ends_at) for e, name in reversed(found)
    ]


async def campaign_name(*, session: AsyncSession, epoch: Epoch) -> str:
    """The name of the campaign an epoch belongs to."""
    campaign = await session.get(Campaign, epoch.campaign_id)
    return campaign.name if campaign is not None else epochs.DEFAULT_CAMPAIGN
