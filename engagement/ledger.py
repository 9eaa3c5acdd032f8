"""The points ledger: append entries, read scores, sums and the export.

Entries are inserted with `ON CONFLICT DO NOTHING` on the cause key, so a cause replayed from
any process is credited once. The score cache (`engagement_scores`) and the running totals
(`engagement_member_totals`) follow every inserted row through database triggers, in the same
statement, so they equal the ledger's sums by construction, whoever writes the ledger.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import utcnow
from core.models_engagement import Epoch, LedgerEntry, Score
from core.models_totals import MemberTotal
from engagement import sql


@dataclass(frozen=True, slots=True)
class Entry:
    """One ledger row to write; `cause` with `revision` is its idempotency key."""

    chat_id: int
    epoch_id: int
    member_id: int
    kind: str
    rule: str
    points: int
    rules_version: int
    cause: str
    occurred_at: datetime
    revision: int = 0
    update_id: int | None = None
    message_id: int | None = None
    actor_id: int | None = None
    event_id: str | None = None
    reason: str | None = None
    text_hash: int | None = None


def message_cause(message_id: int) -> str:
    """The cause key of a member's own message."""
    return f"msg:{message_id}"


def interaction_cause(kind: str, message_id: int, actor_id: int) -> str:
    """The cause key of one member's reply to, or reaction on, a message."""
    return f"{kind}:{message_id}:{actor_id}"


def invite_cause(invitee_id: int) -> str:
    """The cause key of a referral: one per invited member, ever."""
    return f"invite:{invitee_id}"


def manual_cause(update_id: int) -> str:
    """The cause key of a manager's grant or penalty: the command's update."""
    return f"manual:{update_id}"


def app_cause(app_id: str, event_id: str) -> str:
    """The cause key of a mini-app event."""
    return f"app:{app_id}:{event_id}"


def _ledger() -> Any:
    return LedgerEntry.__table__  # type: ignore[attr-defined]


def _scores() -> Any:
    return Score.__table__  # type: ignore[attr-defined]


ENTRY_COLUMNS = tuple(Entry.__dataclass_fields__)


@functools.cache
def _entry_statement(dialect: str) -> Any:
    """The entry INSERT, built once per dialect: the hot path only binds values."""
    t = _ledger()
    values = {
        name: bindparam(name, type_=t.c[name].type) for name in (*ENTRY_COLUMNS, "created_at")
    }
    return (
        sql.insert_for(dialect, t)
        .values(values)
        .on_conflict_do_nothing(index_elements=["chat_id", "cause", "revision"])
    )


async def append(*, session: AsyncSession, entries: Iterable[Entry]) -> list[Entry]:
    """Writes entries whose cause key is new; the database adds their points to the score
    cache and the member's running totals in the same statement (the `engagement_ledger_score`
    and `engagement_ledger_totals` triggers).

    Entries are written in `(epoch, member, kind, rule)` order, so two transactions crediting
    the same members lock their score and totals rows in the same order.

    Args:
        session: the caller's transaction; the entries and scores commit or roll back together.
        entries: rows to write; one whose `(chat_id, cause, revision)` exists is skipped.

    Returns:
        The entries actually written.
    """
    written: list[Entry] = []
    now = utcnow()
    insert = _entry_statement(sql.dialect(session))
    for entry in sorted(entries, key=lambda e: (e.epoch_id, e.member_id, e.kind, e.rule)):
        params = {name: getattr(entry, name) for name in ENTRY_COLUMNS}
        if (await sql.run(session, insert, {**params, "created_at": now})).rowcount:
            written.append(entry)
    return written


async def score(*, session: AsyncSession, epoch_id: int, member_id: int) -> int:
    """A member's cached score in an epoch (0 if none)."""
    row = await session.get(Score, (epoch_id, member_id))
    return int(row.points) if row is not None else 0


async def sums(*, session: AsyncSession, epoch_id: int) -> dict[int, int]:
    """Each member's ledger sum in an epoch, straight from the ledger (for checks and exports)."""
    t = _ledger()
    stmt = (
        select(t.c.member_id, func.sum(t.c.points))
        .where(t.c.epoch_id == epoch_id)
        .group_by(t.c.member_id)
    )
    rows = await sql.rows(session, stmt)
    return {int(member): int(total) for member, total in rows}


async def cached(*, session: AsyncSession, epoch_id: int) -> dict[int, int]:
    """The score cache of an epoch, member by member."""
    t = _scores()
    stmt = select(t.c.member_id, t.c.points).where(t.c.epoch_id == epoch_id)
    rows = await sql.rows(session, stmt)
    return {int(member): int(points) for member, points in rows}


# (member, kind, rule) -> (points, entries)
RuleSums = dict[tuple[int, str, str], tuple[int, int]]


async def rule_sums(*, session: AsyncSession, epoch_id: int) -> RuleSums:
    """Each member's points and entries per kind and rule in an epoch, from the ledger itself."""
    t = _ledger()
    return await _rule_sums(session, t, func.count(), epoch_id)


async def rule_totals(*, session: AsyncSession, epoch_id: int) -> RuleSums:
    """The same as `rule_sums`, from the running totals (for checking them)."""
    t = MemberTotal.__table__  # type: ignore[attr-defined]
    return await _rule_sums(session, t, func.sum(t.c.entries), epoch_id)


async def _rule_sums(session: AsyncSession, t: Any, entries: Any, epoch_id: int) -> RuleSums:
    keys = (t.c.member_id, t.c.kind, t.c.rule)
    stmt = select(*keys, func.sum(t.c.points), entries).where(t.c.epoch_id == epoch_id)
    rows = await sql.rows(session, stmt.group_by(*keys))
    return {(int(m), k, r): (int(p), int(n)) for m, k, r, p, n in rows}


EXPORT_COLUMNS = (
    "id",
    "chat_id",
    "epoch",
    "member_id",
    "kind",
    "rule",
    "points",
    "rules_version",
    "cause",
    "revision",
    "update_id",
    "message_id",
    "actor_id",
    "event_id",
    "reason",
    "text_hash",
    "occurred_at",
    "created_at",
)


async def export(
    *, session: AsyncSession, chat_id: int, epoch: Epoch, batch: int = 5000
) -> AsyncIterator[dict[str, Any]]:
    """Every entry of an epoch in write order, with its cause, as plain dictionaries."""
    t = _ledger()
    stmt = (
        select(t)
        .where(t.c.chat_id == chat_id, t.c.epoch_id == epoch.id)
        .order_by(t.c.id)
        .execution_options(yield_per=batch)
    )
    result = await session.stream(stmt)
    async for row in result:
        data = row._mapping
        yield {
            **{c: data[c] for c in EXPORT_COLUMNS if c not in ("epoch",)},
            "epoch": epoch.number,
            "occurred_at": data["occurred_at"].isoformat(),
            "created_at": data["created_at"].isoformat(),
        }
