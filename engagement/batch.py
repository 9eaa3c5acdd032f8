"""Scoring the group messages of one batch of updates together.

The gateway handles concurrent updates in shared transactions (group commit). Scored one by
one, each message costs three statements; here each costs one (the member's lock-and-read), and
the batch writes every entry with the members' new states in one more round trip. A message
this path cannot judge from the member's state row alone (the member's second message in the
batch, a late one, one whose reactions came first, one that may release an invite credit, a
group's first) goes through `ingest.score_message` afterwards, so the outcome is exactly that
of scoring the messages one by one.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, bindparam, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import utcnow
from core.models_engagement import InteractionTarget
from core.models_engagement import MemberState as StateRow
from core.types import UTCDateTime
from engagement import epochs, ingest, rules, sql, state
from engagement.ingest import IncomingMessage
from engagement.scoring import advance, decide, effective_time

# `_judge` outcomes besides a row to write.
SKIP = "skip"
SLOW = "slow"


Member = tuple[int, int]


@dataclass(frozen=True, slots=True)
class _Context:
    """What the batch read of the database before judging."""

    states: dict[Member, Any]
    # (chat, date) -> (rules version, open epoch, the bot's status in the chat)
    contexts: dict[tuple[int, datetime], tuple[int | None, int | None, str | None]]
    # (chat, message) of messages whose reactions came first
    pending: set[tuple[int, int]]


async def score_messages(
    *, session: AsyncSession, msgs: Sequence[IncomingMessage], now: datetime | None = None
) -> None:
    """Judges new group messages and writes their ledger rows, as `ingest.score_message`
    would one by one.

    Args:
        session: the batch's session; nothing is committed here.
        msgs: messages recorded for the first time in this transaction, each once.
        now: the server's clock, for the clock-skew rule (default: `core.clock.utcnow`).
    """
    if not msgs:
        return
    now = (now or utcnow()).replace(microsecond=0)
    dated = [(msg, effective_time(msg.sent_at, now)) for msg in msgs]
    # Members' rows are locked in key order, as other writers of the same members lock them.
    dated.sort(key=lambda pair: (pair[0].chat_id, pair[0].member_id))
    read = await _read(session, dated)
    rows: list[dict[str, Any]] = []
    slow: list[IncomingMessage] = []
    judged: set[Member] = set()
    for msg, at in dated:
        member = (msg.chat_id, msg.member_id)
        outcome = SLOW if member in judged else await _judge(session, msg, at, read)
        judged.add(member)
        if outcome == SLOW:
            slow.append(msg)
        elif isinstance(outcome, dict):
            rows.append(outcome)
    if rows:
        await state.write_many(session=session, rows=rows)
    for msg in slow:
        await ingest.score_message(session=session, msg=msg, now=now)


async def _judge(session: AsyncSession, msg: IncomingMessage, at: datetime, read: _Context) -> Any:
    """The intake row of a message judged from its member's state, or SKIP or SLOW."""
    version, epoch_id, bot_status = read.contexts[(msg.chat_id, at)]
    row = read.states[(msg.chat_id, msg.member_id)]
    if bot_status in state.ABSENT:
        return SKIP
    if version is None or epoch_id is None or (msg.chat_id, msg.message_id) in read.pending:
        return SLOW
    if row.referrer_id is not None and not row.invite_credited:
        return SLOW
    rules_ = await rules.load_version(session=session, chat_id=msg.chat_id, version=version)
    facts = ingest.facts_of(msg, rules_, at)
    current = state.from_row(row)
    if current.latest is not None and facts.key <= current.latest:
        return SLOW
    decision = decide(rules_.message, current, facts)
    entry = ingest.message_entry(msg, facts, decision, at=at, epoch_id=epoch_id, version=version)
    after = advance(current, facts, decision)
    return state.intake_values(entry, after, bool(row.invite_credited))


async def _read(session: AsyncSession, dated: list[tuple[IncomingMessage, datetime]]) -> _Context:
    dialect = sql.dialect(session)
    members = list(dict.fromkeys((m.chat_id, m.member_id) for m, _ in dated))
    locked = await sql.run(
        session, _lock_many(dialect), [{"chat_id": c, "member_id": m} for c, m in members]
    )
    states = {(int(r.chat_id), int(r.member_id)): r for r in locked.all()}
    contexts: dict[tuple[int, datetime], Any] = {}
    for chat_id, at in dict.fromkeys((m.chat_id, at) for m, at in dated):
        result = await sql.run(session, _context_statement(), {"chat_id": chat_id, "at": at})
        contexts[(chat_id, at)] = tuple(result.one())
    pending: set[tuple[int, int]] = set()
    for chat_id in dict.fromkeys(m.chat_id for m, _ in dated):
        ids = [m.message_id for m, _ in dated if m.chat_id == chat_id]
        result = await sql.run(session, _pending_statement(), {"chat_id": chat_id, "ids": ids})
        pending.update((chat_id, int(message_id)) for (message_id,) in result.all())
    return _Context(states, contexts, pending)


@functools.cache
def _lock_many(dialect: str) -> Any:
    """`state.upsert` returning the rows, one per parameter set (run as one statement)."""
    return state.upsert(dialect).returning(*StateRow.__table__.c)  # type: ignore[attr-defined]


@functools.cache
def _context_statement() -> Any:
    chat = bindparam("chat_id", type_=BigInteger())
    at = bindparam("at", type_=UTCDateTime())
    return select(rules.version_at(chat, at), epochs.epoch_at(chat, at), state.bot_status(chat))


@functools.cache
def _pending_statement() -> Any:
    """The messages among `ids` whose reactions arrived before them."""
    i = InteractionTarget.__table__  # type: ignore[attr-defined]
    return select(i.c.message_id).where(
        i.c.chat_id == bindparam("chat_id", type_=BigInteger()),
        i.c.message_id.in_(bindparam("ids", expanding=True)),
        i.c.kind == "reaction",
        i.c.author_id == state.UNKNOWN_AUTHOR,
    )
