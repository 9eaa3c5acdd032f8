"""A group's analytics for its managers: activity per day, the spread of points, the top
contributors and retention by join week.

The figures are pure functions over plain rows (`daily_activity`, `histogram`, `retention`);
`collect` reads the rows. Days and weeks are UTC; a week starts on Monday.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.models import ChatMessage, Membership
from core.models_engagement import Epoch, Score
from engagement import board, sql

DAYS = 30
COHORTS = 8
WEEKS = 6
BUCKETS = 8
TOP = 10
# Recorded messages that are not a member talking: bot commands and Telegram's service messages.
NOT_TALK = (
    "command",
    "new_chat_members",
    "left_chat_member",
    "new_chat_title",
    "new_chat_photo",
    "delete_chat_photo",
    "group_chat_created",
    "supergroup_chat_created",
    "pinned_message",
    "migrate_to_chat_id",
    "migrate_from_chat_id",
)


@dataclass(frozen=True, slots=True)
class DayActivity:
    day: date
    messages: int
    active_members: int


@dataclass(frozen=True, slots=True)
class Bucket:
    """Members whose score is in `[low, high]`."""

    low: int
    high: int
    members: int


@dataclass(frozen=True, slots=True)
class Cohort:
    """Members who joined in the week from `week`; `active[k]` is how many of them wrote in
    their k-th week (week 0: the join week), None for weeks still to come."""

    week: date
    size: int
    active: list[int | None]

    def percent(self, k: int) -> int | None:
        value = self.active[k]
        return None if value is None or not self.size else round(100 * value / self.size)


def daily_activity(
    messages: Iterable[tuple[int, datetime]], *, first: date, last: date
) -> list[DayActivity]:
    """Messages and distinct writers per day from `first` to `last`, days without any included.

    Args:
        messages: `(member id, sent at)` of each message.
        first: the first day shown.
        last: the last day shown.
    """
    counts: defaultdict[date, int] = defaultdict(int)
    writers: defaultdict[date, set[int]] = defaultdict(set)
    for member, at in messages:
        day = at.date()
        if first <= day <= last:
            counts[day] += 1
            writers[day].add(member)
    span = (last - first).days + 1
    days = (first + timedelta(days=i) for i in range(max(span, 0)))
    return [DayActivity(d, counts[d], len(writers[d])) for d in days]


def histogram(values: Sequence[int], *, buckets: int = BUCKETS) -> list[Bucket]:
    """Members per score range: up to `buckets` ranges of equal whole width over the scores.

    Args:
        values: every member's score (negative scores fall in the lowest range).
        buckets: the most ranges.
    """
    if not values:
        return []
    low, high = min(values), max(values)
    width = max(1, -(-(high - low + 1) // buckets))
    count = -(-(high - low + 1) // width)
    members = [0] * count
    for value in values:
        members[(value - low) // width] += 1
    return [
        Bucket(low + i * width, min(high, low + (i + 1) * width - 1), n)
        for i, n in enumerate(members)
    ]


def week_of(day: date) -> date:
    """The Monday that starts the week of `day`."""
    return day - timedelta(days=day.weekday())


def retention(
    joins: Mapping[int, datetime],
    messages: Iterable[tuple[int, datetime]],
    *,
    today: date,
    cohorts: int = COHORTS,
    weeks: int = WEEKS,
) -> list[Cohort]:
    """The last `cohorts` join weeks, each with how many of its members wrote in each of their
    first `weeks` weeks.

    Args:
        joins: member id -> when the member joined the group.
        messages: `(member id, sent at)` of each message.
        today: the current day; weeks after its week are None.
    """
    this_week = week_of(today)
    oldest = this_week - timedelta(weeks=cohorts - 1)
    members: defaultdict[date, set[int]] = defaultdict(set)
    cohort_of: dict[int, date] = {}
    for member, joined in joins.items():
        week = week_of(joined.date())
        if week >= oldest:
            members[week].add(member)
            cohort_of[member] = week
    wrote: defaultdict[tuple[date, int], set[int]] = defaultdict(set)
    for member, at in messages:
        joined_week = cohort_of.get(member)
        if joined_week is not None:
            offset = (week_of(at.date()) - joined_week).days // 7
            if 0 <= offset < weeks:
                wrote[(joined_week, offset)].add(member)
    result = []
    for i in range(cohorts):
        week = oldest + timedelta(weeks=i)
        active: list[int | None] = [
            len(wrote[(week, k)]) if week + timedelta(weeks=k) <= this_week else None
            for k in range(weeks)
        ]
        result.append(Cohort(week, len(members[week]), active))
    return result


@dataclass(frozen=True)
class Analytics:
    days: list[DayActivity]
    distribution: list[Bucket]
    top: list[board.Standout]
    cohorts: list[Cohort]


async def collect(
    *, session: AsyncSession, chat_id: int, epoch: Epoch | None, today: date, days: int = DAYS
) -> Analytics:
    """The group's analytics: the last `days` days, and the scores of `epoch`."""
    first = today - timedelta(days=days - 1)
    oldest = week_of(today) - timedelta(weeks=COHORTS - 1)
    since = min(first, oldest)
    m = ChatMessage.__table__  # type: ignore[attr-defined]
    messages = [
        (int(member), at)
        for member, at in await sql.rows(
            session,
            select(m.c.member_id, m.c.sent_at).where(
                m.c.chat_id == chat_id,
                m.c.kind.not_in(NOT_TALK),
                m.c.sent_at >= datetime(since.year, since.month, since.day, tzinfo=UTC),
            ),
        )
    ]
    ms = Membership.__table__  # type: ignore[attr-defined]
    joins = {
        int(member): joined
        for member, joined in await sql.rows(
            session, select(ms.c.member_id, ms.c.joined_at).where(ms.c.chat_id == chat_id)
        )
    }
    scores: list[int] = []
    top: list[board.Standout] = []
    if epoch is not None and epoch.id is not None:
        s = Score.__table__  # type: ignore[attr-defined]
        scores = [
            int(p)
            for (p,) in await sql.rows(
                session, select(s.c.points).where(s.c.epoch_id == epoch.id, s.c.points != 0)
            )
        ]
        top = await board.leaderboard(
            session=session, epoch_id=epoch.id, chat_id=chat_id, limit=TOP
        )
    return Analytics(
        days=daily_activity(messages, first=first, last=today),
        distribution=histogram(scores),
        top=top,
        cohorts=retention(joins, messages, today=today),
    )
