"""Sybil signals: pure detectors over plain data, and the scan that feeds them from the ledger.

Each detector returns `Signal`s with a reason code a manager can read. Signals are advice:
they never change the ledger; a manager decides (see `engagement.review`). Account age is
judged from when the gateway first saw an account and when it joined the group, never from the
size of its user id, which says little.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.models import Chat, Member, Membership
from core.models_engagement import Flag, LedgerEntry, Score
from engagement import sql

NEW_ACCOUNT, BURST, REACTION_RING, IDENTICAL_TEXT = (
    "new_account",
    "burst",
    "reaction_ring",
    "identical_text",
)
CODES = (NEW_ACCOUNT, BURST, REACTION_RING, IDENTICAL_TEXT)
SCAN_DAYS = 7


@dataclass(frozen=True, slots=True)
class Signal:
    """A detector's finding about one member, with its reason code."""

    member_id: int
    code: str
    detail: str


@dataclass(frozen=True, slots=True)
class Seen:
    """When an account was first seen by the gateway and when it joined the group."""

    member_id: int
    first_seen: datetime
    joined_at: datetime
    points: int


def new_accounts(
    members: Iterable[Seen],
    *,
    group_known_since: datetime,
    now: datetime,
    young: timedelta = timedelta(hours=24),
) -> list[Signal]:
    """Accounts first seen less than `young` ago that already earn points.

    Members who were in the group when the bot arrived are all "first seen" then; accounts
    first seen within `young` of the bot's arrival are therefore not flagged.
    """
    found = []
    for m in members:
        recent = now - m.first_seen < young and now - m.joined_at < young
        if recent and m.first_seen - group_known_since >= young and m.points > 0:
            hours = max(0, int((now - m.first_seen).total_seconds() // 3600))
            found.append(Signal(m.member_id, NEW_ACCOUNT, f"first seen {hours} h ago"))
    return found


def bursts(
    times: Mapping[int, Sequence[int]], *, count: int = 10, window: int = 60
) -> list[Signal]:
    """Members who sent at least `count` messages within `window` seconds."""
    found = []
    for member, stamps in times.items():
        ordered = sorted(stamps)
        start = 0
        best = 0
        for end, ts in enumerate(ordered):
            while ts - ordered[start] >= window:
                start += 1
            best = max(best, end - start + 1)
        if best >= count:
            found.append(Signal(member, BURST, f"{best} messages within {window} s"))
    return found


def reaction_rings(
    edges: Iterable[tuple[int, int]],
    *,
    min_reactions: int = 5,
    share: float = 0.8,
    max_ring: int = 5,
) -> list[Signal]:
    """Members whose reactions go mostly to a few members who react back to them.

    `edges` are `(reactor, author)` pairs. A ring member gave at least `min_reactions`, and at
    least `share` of them went to at most `max_ring` members who also reacted to them.
    """
    given: defaultdict[int, Counter[int]] = defaultdict(Counter)
    for actor, author in edges:
        if actor != author:
            given[actor][author] += 1
    found = []
    for member, targets in given.items():
        total = sum(targets.values())
        if total < min_reactions:
            continue
        partners = {other for other in targets if given.get(other, Counter())[member] > 0}
        mutual = sum(targets[other] for other in partners)
        if partners and len(partners) <= max_ring and mutual >= share * total:
            found.append(
                Signal(
                    member,
                    REACTION_RING,
                    f"{mutual} of {total} reactions go to {len(partners)} members who react back",
                )
            )
    return found


def identical_texts(
    messages: Iterable[tuple[int, int, int]], *, min_accounts: int = 3, window: int = 3600
) -> list[Signal]:
    """Members who posted the same text as other accounts: `(member, ts, text_hash)` rows;
    a text posted by `min_accounts` distinct members within `window` seconds flags them all."""
    by_hash: defaultdict[int, list[tuple[int, int]]] = defaultdict(list)
    for member, ts, text_hash in messages:
        if text_hash:
            by_hash[text_hash].append((ts, member))
    flagged: dict[int, int] = {}
    for posts in by_hash.values():
        posts.sort()
        start = 0
        for end in range(len(posts)):
            while posts[end][0] - posts[start][0] >= window:
                start += 1
            members = {m for _, m in posts[start : end + 1]}
            if len(members) >= min_accounts:
                for m in members:
                    flagged[m] = max(flagged.get(m, 0), len(members))
    return [
        Signal(m, IDENTICAL_TEXT, f"same text as {n - 1} other accounts")
        for m, n in sorted(flagged.items())
    ]


async def scan(
    *, session: AsyncSession, chat_id: int, epoch_id: int, now: datetime
) -> list[Signal]:
    """Runs every detector over the group's last days and stores what they find as flags."""
    since = now - timedelta(days=SCAN_DAYS)
    t = LedgerEntry.__table__  # type: ignore[attr-defined]
    recent = (t.c.chat_id == chat_id, t.c.occurred_at >= since, t.c.revision == 0)
    texts = await sql.rows(
        session,
        select(t.c.member_id, t.c.occurred_at, t.c.text_hash).where(*recent, t.c.kind == "message"),
    )
    times: defaultdict[int, list[int]] = defaultdict(list)
    hashed = []
    for member, at, text_hash in texts:
        ts = int(at.timestamp())
        times[int(member)].append(ts)
        hashed.append((int(member), ts, int(text_hash or 0)))
    edges = await sql.rows(
        session, select(t.c.actor_id, t.c.member_id).where(*recent, t.c.kind == "reaction")
    )
    signals = [
        *bursts(times),
        *identical_texts(hashed),
        *reaction_rings((int(a), int(b)) for a, b in edges),
        *await _new_accounts(session=session, chat_id=chat_id, epoch_id=epoch_id, now=now),
    ]
    await _store(session=session, chat_id=chat_id, signals=signals, now=now)
    return signals


async def _new_accounts(
    *, session: AsyncSession, chat_id: int, epoch_id: int, now: datetime
) -> list[Signal]:
    s = Score.__table__  # type: ignore[attr-defined]
    m = Member.__table__  # type: ignore[attr-defined]
    ms = Membership.__table__  # type: ignore[attr-defined]
    c = Chat.__table__  # type: ignore[attr-defined]
    known = await sql.scalar(session, select(c.c.created_at).where(c.c.id == chat_id))
    if known is None:
        return []
    young = now - timedelta(hours=24)
    stmt = (
        select(m.c.id, m.c.created_at, ms.c.joined_at, s.c.points)
        .select_from(
            s.join(m, m.c.id == s.c.member_id).join(
                ms, (ms.c.chat_id == chat_id) & (ms.c.member_id == s.c.member_id)
            )
        )
        .where(s.c.epoch_id == epoch_id, m.c.created_at >= young, s.c.points > 0)
    )
    found = await sql.rows(session, stmt)
    return new_accounts(
        (Seen(int(i), first, joined, int(p)) for i, first, joined, p in found),
        group_known_since=known,
        now=now,
    )


async def _store(
    *, session: AsyncSession, chat_id: int, signals: Iterable[Signal], now: datetime
) -> None:
    t = Flag.__table__  # type: ignore[attr-defined]
    for signal in signals:
        stmt = sql.upsert(session, Flag).values(
            chat_id=chat_id,
            member_id=signal.member_id,
            code=signal.code,
            detail=signal.detail[:256],
            first_at=now,
            last_at=now,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["chat_id", "member_id", "code"],
            set_={"detail": stmt.excluded.detail, "last_at": now},
            where=t.c.detail != stmt.excluded.detail,
        )
        await sql.run(session, stmt)
