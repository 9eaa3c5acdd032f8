"""Late delivery: a message dated before ones already judged makes them be judged again.

Corrections are appended as the next revision of each message whose outcome changes, so the
ledger stays append-only and every message's net points end up what judging the member's
messages in date order gives (see `engagement.scoring`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import from_timestamp
from core.models_engagement import Epoch, LedgerEntry
from engagement import ledger, rules, sql, text
from engagement.rules import MAX_WINDOW
from engagement.scoring import DAY, LOCAL_RULES, Decision, MemberState, MessageFacts, fold, replay


@dataclass(frozen=True, slots=True)
class Judged:
    """A message already in the ledger: its facts (from revision 0) and its net outcome."""

    facts: MessageFacts
    net: int
    rule: str
    revision: int
    epoch_id: int
    version: int
    occurred_at: datetime


async def history(
    *, session: AsyncSession, chat_id: int, member_id: int, since: datetime
) -> list[Judged]:
    """The member's judged messages dated from `since`, in date order, netted per message."""
    t = LedgerEntry.__table__  # type: ignore[attr-defined]
    e = Epoch.__table__  # type: ignore[attr-defined]
    live = select(e.c.id).where(
        e.c.chat_id == chat_id, or_(e.c.ends_at.is_(None), e.c.ends_at > since)
    )
    stmt = (
        select(
            t.c.message_id,
            t.c.revision,
            t.c.rule,
            t.c.points,
            t.c.text_hash,
            t.c.occurred_at,
            t.c.epoch_id,
            t.c.rules_version,
        )
        .where(
            t.c.epoch_id.in_(live),
            t.c.member_id == member_id,
            t.c.occurred_at >= since,
            t.c.kind == "message",
        )
        .order_by(t.c.message_id, t.c.revision)
    )
    rows = await sql.rows(session, stmt)
    judged: dict[int, Judged] = {}
    for message_id, revision, rule, points, text_hash, occurred_at, epoch_id, version in rows:
        first = judged.get(message_id)
        if first is None:
            facts = MessageFacts(
                message_id,
                int(occurred_at.timestamp()),
                text.to_unsigned(text_hash) if text_hash is not None else 0,
                rule if rule in LOCAL_RULES else None,
            )
            judged[message_id] = Judged(
                facts, points, rule, revision, epoch_id, version, occurred_at
            )
        else:
            judged[message_id] = Judged(
                first.facts,
                first.net + points,
                rule,
                revision,
                first.epoch_id,
                first.version,
                first.occurred_at,
            )
    return sorted(judged.values(), key=lambda j: j.facts.key)


async def rejudge(
    *,
    session: AsyncSession,
    chat_id: int,
    member_id: int,
    update_id: int,
    facts: MessageFacts,
    rules_: rules.Rules,
    current: MemberState,
) -> tuple[Decision, MemberState, list[ledger.Entry]]:
    """Judges a late message (`facts`) and the member's later ones again.

    Returns the late message's decision, the member's state after their newest message, and
    a correction entry for each later message whose points or deciding rule changed.
    """
    day_start = facts.ts - facts.ts % DAY
    since = from_timestamp(day_start - MAX_WINDOW)
    judged = await history(session=session, chat_id=chat_id, member_id=member_id, since=since)
    before = [j for j in judged if j.facts.key < facts.key]
    later = [j for j in judged if j.facts.key > facts.key]
    start = fold(MemberState(), ((j.facts, Decision(j.net, j.rule)) for j in before))
    by_version = {
        v: await rules.load_version(session=session, chat_id=chat_id, version=v)
        for v in {j.version for j in later}
    }
    sequence = [(facts, rules_.message)] + [(j.facts, by_version[j.version].message) for j in later]
    decisions, end = replay(start, sequence)
    corrections = [
        ledger.Entry(
            chat_id=chat_id,
            epoch_id=j.epoch_id,
            member_id=member_id,
            kind="message",
            rule=decision.rule,
            points=decision.points - j.net,
            rules_version=j.version,
            cause=ledger.message_cause(j.facts.message_id),
            revision=j.revision + 1,
            occurred_at=j.occurred_at,
            update_id=update_id,
            message_id=j.facts.message_id,
            reason=f"judged again after late msg:{facts.message_id}",
        )
        for j, decision in zip(later, decisions[1:], strict=True)
        if (decision.points, decision.rule) != (j.net, j.rule)
    ]
    # The replay starts a day back; what it cannot see of older history is kept from the row.
    end = replace(end, has_qualified=end.has_qualified or current.has_qualified)
    return decisions[0], end, corrections
