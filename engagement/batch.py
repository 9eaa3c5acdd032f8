"""Scoring the group messages of one batch of updates together.

The gateway handles concurrent updates in shared transactions (group commit). Scored one by
one, each message costs three statements; here the whole batch costs three: one locks and
reads every member's state row, one reads every message's context (rules version, epoch, the
bot's standing, reactions that came first), and one writes every entry with the members' new
states. On PostgreSQL, `record_and_score` also folds the recording of the messages and the two
reads into one statement. Batches travel as one parameter (`core.bulk`). A message
this path cannot judge from the member's state row alone (the member's second message in the
batch, a late one, one whose reactions came first, one that may release an invite credit, a
group's first) goes through `ingest.score_message` afterwards, so the outcome is exactly that
of scoring the messages one by one.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, and_, select
from sqlalchemy.dialects import postgresql
from sqlmodel.ext.asyncio.session import AsyncSession

from core import repo
from core.bulk import RowSource, row_source
from core.clock import utcnow
from core.models import ChatMessage
from core.models_engagement import MemberState as StateRow
from core.types import IntListsJSON, UTCDateTime
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
    # (chat, message) -> (rules version and open epoch at the message's date, the bot's status
    # in the chat, whether reactions on the message came before it)
    contexts: dict[tuple[int, int], tuple[int | None, int | None, str | None, bool]]
    # When the batch writes its entries (one time for all of them)
    written_at: datetime
    # The rules versions met so far in the batch, by (chat, version)
    versions: dict[tuple[int, int], rules.Rules] = field(default_factory=dict)


async def record_and_score(
    *,
    session: AsyncSession,
    records: Sequence[dict[str, Any]],
    msgs: Sequence[IncomingMessage],
    now: datetime | None = None,
) -> None:
    """Records group messages (`records`: the rows of `core.repo.record_messages`, with the
    same keys) and scores, as `score_messages` does, those stored for the first time
    (`msgs[i]` is the message of `records[i]`; one delivered twice is scored once).

    On PostgreSQL one statement records the messages, locks their members' rows and reads
    every fresh message's context; on SQLite these are the usual three.
    """
    if not records:
        return
    if sql.dialect(session) != "postgresql":
        fresh = await repo.record_messages(session=session, rows=list(records))
        scored = []
        for msg in msgs:
            key = (msg.chat_id, msg.message_id)
            if key in fresh:
                fresh.discard(key)
                scored.append(msg)
        await score_messages(session=session, msgs=scored, now=now)
        return
    now = (now or utcnow()).replace(microsecond=0)
    columns = tuple(records[0])
    stmt, source = _record_lock_read(columns)
    dated_by_key: dict[tuple[int, int], tuple[IncomingMessage, datetime]] = {}
    rows = []
    for record, msg in zip(records, msgs, strict=True):
        at = effective_time(msg.sent_at, now)
        dated_by_key.setdefault((msg.chat_id, msg.message_id), (msg, at))
        rows.append([*(record[c] for c in columns), at])
    read_rows = await source.fetch(await session.connection(), stmt, rows)
    states: dict[Member, Any] = {}
    contexts: dict[tuple[int, int], tuple[int | None, int | None, str | None, bool]] = {}
    dated = []
    for row in read_rows:
        key = (int(row.chat_id), int(row.message_id))
        if key in contexts:
            continue  # delivered twice in the batch
        contexts[key] = (row.ctx_version, row.ctx_epoch, row.ctx_bot_status, bool(row.ctx_pending))
        if row.member_id is not None:  # else `_judge` takes the slow way for its member
            states[(key[0], int(row.member_id))] = row
        dated.append(dated_by_key[key])
    dated.sort(key=lambda pair: (pair[0].chat_id, pair[0].member_id))
    await _score(session, dated, _Context(states, contexts, utcnow()), now)


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
    await _score(session, dated, await _read(session, dated), now)


async def _score(
    session: AsyncSession,
    dated: list[tuple[IncomingMessage, datetime]],
    read: _Context,
    now: datetime,
) -> None:
    """Judges `dated` (in member order) from what was `read`, and writes the outcome."""
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
    version, epoch_id, bot_status, reactions_first = read.contexts[(msg.chat_id, msg.message_id)]
    row = read.states.get((msg.chat_id, msg.member_id))
    if bot_status in state.ABSENT:
        return SKIP
    if row is None:
        return SLOW  # its state row was created by another transaction meanwhile
    if version is None or epoch_id is None or reactions_first:
        return SLOW
    if row.referrer_id is not None and not row.invite_credited:
        return SLOW
    rules_ = read.versions.get((msg.chat_id, version))
    if rules_ is None:
        rules_ = await rules.load_version(session=session, chat_id=msg.chat_id, version=version)
        read.versions[(msg.chat_id, version)] = rules_
    facts = ingest.facts_of(msg, rules_, at)
    current = state.from_row(row)
    if current.latest is not None and facts.key <= current.latest:
        return SLOW
    decision = decide(rules_.message, current, facts)
    entry = ingest.message_entry(msg, facts, decision, at=at, epoch_id=epoch_id, version=version)
    after = advance(current, facts, decision)
    return state.intake_values(entry, after, bool(row.invite_credited), created_at=read.written_at)


async def _read(session: AsyncSession, dated: list[tuple[IncomingMessage, datetime]]) -> _Context:
    """Two statements for the whole batch: the members' rows, locked, and every message's
    context."""
    dialect = sql.dialect(session)
    connection = await session.connection()
    members = list(dict.fromkeys((m.chat_id, m.member_id) for m, _ in dated))
    lock, lock_rows = _lock_many(dialect)
    locked = await lock_rows.fetch(connection, lock, members)
    states = {(int(r.chat_id), int(r.member_id)): r for r in locked}
    ask, asked = _context_many(dialect)
    messages = [(m.chat_id, at, m.message_id) for m, at in dated]
    contexts = {
        (int(chat_id), int(message_id)): (version, epoch_id, bot_status, bool(reactions))
        for chat_id, message_id, version, epoch_id, bot_status, reactions in (
            await asked.fetch(connection, ask, messages)
        )
    }
    return _Context(states, contexts, utcnow())


@functools.cache
def _lock_many(dialect: str) -> tuple[Any, RowSource]:
    """`state.upsert` of every `(chat_id, member_id)` of a `RowSource` in one statement,
    returning the rows."""
    table = StateRow.__table__  # type: ignore[attr-defined]
    source = row_source(dialect, "members", (table.c.chat_id, table.c.member_id))
    return state.upsert_from(dialect, source.subquery).returning(*table.c), source


@functools.cache
def _record_lock_read(columns: tuple[str, ...]) -> tuple[Any, RowSource]:
    """PostgreSQL: one statement over a `RowSource` of message rows (`columns` of
    `chat_messages`, then each message's effective date `at`) that stores the messages new to
    the table, locks (creating them if missing) the state rows of their members in key order
    (`state.locked_rows`), and returns, for each row whose message was stored just now, the
    message's context (`ctx_*`, as `_context_many` reads it) with its member's locked state
    row: all NULL when another transaction created that row meanwhile (`_judge` then takes
    the slow way)."""
    messages = ChatMessage.__table__  # type: ignore[attr-defined]
    source = row_source(
        "postgresql", "plain", (*(messages.c[c] for c in columns), Column("at", UTCDateTime()))
    )
    b = source.subquery
    picked = select(*(b.c[c] for c in columns))
    stored = (
        postgresql.insert(messages)
        .from_select(list(columns), picked)
        .on_conflict_do_nothing()
        .returning(messages.c.chat_id, messages.c.message_id, messages.c.member_id)
        .cte("stored")
    )
    members = (
        select(stored.c.chat_id, stored.c.member_id)
        .distinct()
        .order_by(stored.c.chat_id, stored.c.member_id)
        .subquery("members")
    )
    table = StateRow.__table__  # type: ignore[attr-defined]
    locked = state.locked_rows(members)
    stmt = select(
        b.c.chat_id,
        b.c.message_id,
        rules.version_at(b.c.chat_id, b.c.at).label("ctx_version"),
        epochs.epoch_at(b.c.chat_id, b.c.at).label("ctx_epoch"),
        state.bot_status(b.c.chat_id).label("ctx_bot_status"),
        state.pending(b.c.chat_id, b.c.message_id).label("ctx_pending"),
        *(
            IntListsJSON.as_text(locked.c.recent).label("recent")
            if c.name == "recent"
            else locked.c[c.name]
            for c in table.c
            if c.name != "chat_id"
        ),
    ).select_from(
        b.join(
            stored, and_(stored.c.chat_id == b.c.chat_id, stored.c.message_id == b.c.message_id)
        ).outerjoin(
            locked, and_(locked.c.chat_id == b.c.chat_id, locked.c.member_id == b.c.member_id)
        )
    )
    return stmt, source


@functools.cache
def _context_many(dialect: str) -> tuple[Any, RowSource]:
    """Per `(chat_id, at, message_id)` of a `RowSource`: the rules version and open epoch at
    that date, the bot's status in the chat, and whether reactions came before the message."""
    chat = Column("chat_id", BigInteger())
    source = row_source(
        dialect, "msgs", (chat, Column("at", UTCDateTime()), Column("message_id", BigInteger()))
    )
    m = source.subquery
    stmt = select(
        m.c.chat_id,
        m.c.message_id,
        rules.version_at(m.c.chat_id, m.c.at),
        epochs.epoch_at(m.c.chat_id, m.c.at),
        state.bot_status(m.c.chat_id),
        state.pending(m.c.chat_id, m.c.message_id),
    )
    return stmt, source
