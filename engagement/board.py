"""What members see: a score with its rank and explanation, the leaderboard, allocation inputs.

Reads only the score cache and one member's running totals, so they stay fast for a group of
100,000 members with millions of entries.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, exists, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.models import Chat, Member, Membership
from core.models_engagement import Epoch, Score, Standing
from core.models_totals import MemberTotal
from engagement import sql
from engagement.review import EXCLUDED


def _not_excluded(chat_id: Any, member_id: Any) -> Any:
    s = Standing.__table__  # type: ignore[attr-defined]
    return ~exists().where(
        s.c.chat_id == chat_id, s.c.member_id == member_id, s.c.status == EXCLUDED
    )


async def rank(*, session: AsyncSession, epoch_id: int, chat_id: int, points: int) -> int:
    """1 + the number of counted members with more points (ties share a rank)."""
    t = Score.__table__  # type: ignore[attr-defined]
    s = Standing.__table__  # type: ignore[attr-defined]
    above = select(func.count()).where(t.c.epoch_id == epoch_id, t.c.points > points)
    # Excluded members are few: count them apart rather than anti-joining every score row.
    excluded_above = (
        select(func.count())
        .select_from(t.join(s, and_(s.c.chat_id == chat_id, s.c.member_id == t.c.member_id)))
        .where(t.c.epoch_id == epoch_id, t.c.points > points, s.c.status == EXCLUDED)
    )
    total = await sql.scalar(
        session, select(above.scalar_subquery() - excluded_above.scalar_subquery())
    )
    return int(total or 0) + 1


@dataclass(frozen=True, slots=True)
class Standout:
    """One line of the leaderboard."""

    member_id: int
    points: int
    name: str


def display_name(member_id: int, first_name: str | None, username: str | None) -> str:
    """What to call a member: first name, else @username, else the id."""
    return first_name or (f"@{username}" if username else str(member_id))


async def leaderboard(
    *, session: AsyncSession, epoch_id: int, chat_id: int, limit: int = 10
) -> list[Standout]:
    """The top members of an epoch, excluded members left out; ties by member id, highest first."""
    t = Score.__table__  # type: ignore[attr-defined]
    m = Member.__table__  # type: ignore[attr-defined]
    stmt = (
        select(t.c.member_id, t.c.points, m.c.first_name, m.c.username)
        .select_from(t.outerjoin(m, m.c.id == t.c.member_id))
        .where(t.c.epoch_id == epoch_id, _not_excluded(chat_id, t.c.member_id))
        # Both columns descending: one backward walk of the rank index, stopping at `limit`.
        .order_by(t.c.points.desc(), t.c.member_id.desc())
        .limit(limit)
    )
    return [
        Standout(int(member), int(points), display_name(member, first, username))
        for member, points, first, username in await sql.rows(session, stmt)
    ]


@dataclass(slots=True)
class Breakdown:
    """A member's epoch explained: points per kind and why other messages earned nothing."""

    total: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    counted_messages: int = 0
    not_counted: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RuleSum:
    """The points one rule gave a member in an epoch, over how many ledger entries."""

    rule: str
    points: int
    entries: int


@dataclass(frozen=True, slots=True)
class Summary:
    """Everything the points page says about a member's ledger in one epoch."""

    breakdown: Breakdown
    by_rule: tuple[RuleSum, ...]


def _mine(t: Any, epoch_id: int, member_id: int) -> tuple[Any, Any]:
    return (t.c.epoch_id == epoch_id, t.c.member_id == member_id)


async def summary(*, session: AsyncSession, epoch_id: int, member_id: int) -> Summary:
    """The member's ledger in the epoch summed up, from its running totals: one read of the
    member's few totals rows, however long the member's ledger (see `core.models_totals`).

    Points per kind and per rule (with their entry counts), and the member's messages by
    their final decision: a message counts when its net points are positive; the others are
    counted under the rule of their highest revision, which says why they earned nothing."""
    t = MemberTotal.__table__  # type: ignore[attr-defined]
    stmt = select(t.c.kind, t.c.rule, t.c.points, t.c.entries, t.c.counted, t.c.not_counted).where(
        *_mine(t, epoch_id, member_id)
    )
    by_kind: Counter[str] = Counter()
    by_rule: Counter[str] = Counter()
    entries: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    counted = 0
    for kind, rule, points, n, yes, no in await sql.rows(session, stmt):
        by_kind[kind] += int(points)
        by_rule[rule] += int(points)
        entries[rule] += int(n)
        counted += int(yes)
        reasons[rule] += int(no)
    return Summary(
        breakdown=Breakdown(
            total=sum(by_kind.values()),
            by_kind={k: v for k, v in sorted(by_kind.items()) if v},
            counted_messages=counted,
            not_counted=dict(sorted(((r, n) for r, n in reasons.items() if n), key=_most)),
        ),
        by_rule=tuple(
            sorted(
                (RuleSum(rule, p, entries[rule]) for rule, p in by_rule.items()),
                key=lambda r: (-r.points, r.rule),
            )
        ),
    )


def _most(item: tuple[str, int]) -> tuple[int, str]:
    return (-item[1], item[0])


async def breakdown(*, session: AsyncSession, epoch_id: int, member_id: int) -> Breakdown:
    """Sums the member's ledger rows of the epoch by kind; for messages, the final decision
    of each (its highest revision) says whether it counted, or why not."""
    return (await summary(session=session, epoch_id=epoch_id, member_id=member_id)).breakdown


async def allocation_scores(
    *, session: AsyncSession, epoch_id: int, chat_id: int
) -> dict[int, int]:
    """Scores that count toward an allocation: positive totals of members not excluded."""
    t = Score.__table__  # type: ignore[attr-defined]
    stmt = select(t.c.member_id, t.c.points).where(
        t.c.epoch_id == epoch_id, t.c.points > 0, _not_excluded(chat_id, t.c.member_id)
    )
    return {int(member): int(points) for member, points in await sql.rows(session, stmt)}


@dataclass(frozen=True, slots=True)
class GroupScore:
    """A member's score in one group's open epoch."""

    chat_id: int
    title: str
    epoch_id: int
    epoch_number: int
    points: int


async def overview(*, session: AsyncSession, member_id: int) -> list[GroupScore]:
    """The member's score in the open epoch of every group they are in, best first."""
    ms = Membership.__table__  # type: ignore[attr-defined]
    c = Chat.__table__  # type: ignore[attr-defined]
    e = Epoch.__table__  # type: ignore[attr-defined]
    s = Score.__table__  # type: ignore[attr-defined]
    stmt = (
        select(c.c.id, c.c.title, e.c.id, e.c.number, func.coalesce(s.c.points, 0))
        .select_from(
            ms.join(c, c.c.id == ms.c.chat_id)
            .join(e, and_(e.c.chat_id == ms.c.chat_id, e.c.state == "open"))
            .outerjoin(s, and_(s.c.epoch_id == e.c.id, s.c.member_id == member_id))
        )
        .where(ms.c.member_id == member_id)
        .order_by(func.coalesce(s.c.points, 0).desc(), c.c.id)
    )
    return [
        GroupScore(int(chat), title or str(chat), int(epoch), int(number), int(points))
        for chat, title, epoch, number, points in await sql.rows(session, stmt)
    ]
