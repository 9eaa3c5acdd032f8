"""The per-member scoring state row: locked and read in one statement, written back in one.

`lock` is an upsert that returns the member's state together with what the cause needs from
the rest of the database (the rules version and open epoch at its date, the bot's standing in
the chat), so judging a message costs one read before the writes. The upsert takes the row lock
on PostgreSQL, which serialises a member's concurrent messages; SQLite serialises writers anyway.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    Table,
    and_,
    bindparam,
    func,
    insert,
    literal,
    select,
    text,
    true,
    union_all,
    update,
)
from sqlmodel.ext.asyncio.session import AsyncSession

from core.bulk import RowSource, insert_each, row_source
from core.clock import from_timestamp, utcnow
from core.models import Chat
from core.models_engagement import INTAKE_ENTRY, INTAKE_STATE, InteractionTarget, LedgerEntry
from core.models_engagement import MemberState as StateRow
from core.types import UTCDateTime
from engagement import epochs, ledger, rules, sql
from engagement.scoring import MemberState

ABSENT = frozenset({"left", "kicked"})
# A reaction target whose message has not arrived yet: its author is not known.
UNKNOWN_AUTHOR = 0


@dataclass(frozen=True, slots=True)
class Locked:
    """A member's state and the context of one cause, as read under the row lock."""

    state: MemberState
    version: int | None
    epoch_id: int | None
    bot_status: str | None
    referrer_id: int | None
    joined_at: datetime | None
    invite_credited: bool
    pending_reactions: bool = False


def _table() -> Any:
    return StateRow.__table__  # type: ignore[attr-defined]


def bot_status(chat_id: Any) -> Any:
    """A scalar subquery: the bot's status in the chat."""
    c = Chat.__table__  # type: ignore[attr-defined]
    return select(c.c.bot_status).where(c.c.id == chat_id).scalar_subquery()


def _ts(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


def from_row(row: Any) -> MemberState:
    """The scorer's view of a state row."""
    latest = None
    if row.latest_at is not None:
        latest = (int(row.latest_at.timestamp()), int(row.latest_message_id))
    return MemberState(
        latest=latest,
        last_credit_ts=_ts(row.last_credit_at),
        day=int(row.day),
        day_count=int(row.day_count),
        day_points=int(row.day_points),
        recent=tuple(map(tuple, row.recent)),  # pairs of JSON integers
        has_qualified=bool(row.has_qualified),
    )


def to_values(state: MemberState) -> dict[str, Any]:
    """The columns that store a scorer state."""
    latest_at, latest_id = (None, 0) if state.latest is None else state.latest
    return {
        "latest_at": None if latest_at is None else from_timestamp(latest_at),
        "latest_message_id": latest_id,
        "last_credit_at": (
            None if state.last_credit_ts is None else from_timestamp(state.last_credit_ts)
        ),
        "day": state.day,
        "day_count": state.day_count,
        "day_points": state.day_points,
        "recent": list(state.recent),  # its pairs are stored as JSON arrays
        "has_qualified": state.has_qualified,
    }


def pending(chat_id: Any, message_id: Any) -> Any:
    """A scalar subquery: whether reactions on this message arrived before the message."""
    i = InteractionTarget.__table__  # type: ignore[attr-defined]
    return (
        select(func.count())
        .where(
            i.c.chat_id == chat_id,
            i.c.message_id == message_id,
            i.c.kind == "reaction",
            i.c.author_id == UNKNOWN_AUTHOR,
        )
        .scalar_subquery()
    )


# A member's state before any cause.
FRESH = {
    "latest_message_id": 0,
    "day": 0,
    "day_count": 0,
    "day_points": 0,
    "recent": [],
    "has_qualified": False,
    "invite_credited": False,
}


def upsert(dialect: str) -> Any:
    """Creates a member's state row if missing and locks it, run with `chat_id` and
    `member_id`; add the RETURNING wanted."""
    t = _table()
    stmt = sql.insert_for(dialect, t).values(
        chat_id=bindparam("chat_id", type_=BigInteger()),
        member_id=bindparam("member_id", type_=BigInteger()),
        **FRESH,
    )
    return _lock_on_conflict(stmt)


def upsert_from(dialect: str, members: Any) -> Any:
    """`upsert` of every row of `members`, a selectable with `chat_id` and `member_id` columns
    (each pair once); add the RETURNING wanted."""
    t = _table()
    fresh = [literal(value, t.c[name].type).label(name) for name, value in FRESH.items()]
    # The WHERE keeps SQLite from reading ON CONFLICT as part of the SELECT's join.
    rows = select(members.c.chat_id, members.c.member_id, *fresh).where(true())
    stmt = sql.insert_for(dialect, t).from_select(["chat_id", "member_id", *FRESH], rows)
    return _lock_on_conflict(stmt)


def locked_rows(members: Any) -> Any:
    """PostgreSQL: a subquery of the state rows of `members` (a selectable of `chat_id`,
    `member_id` pairs, each once), locked: the rows there were, locked in key order without
    being written (`FOR UPDATE`, where `upsert` writes a new version of each), and those
    created now. A row that another transaction creates meanwhile is in neither, so its member
    is missing from the result: the caller then takes the way of `lock` for that member."""
    t = _table()
    fresh = [literal(value, t.c[name].type).label(name) for name, value in FRESH.items()]
    rows = select(members.c.chat_id, members.c.member_id, *fresh)
    made = (
        sql.insert_for("postgresql", t)
        .from_select(["chat_id", "member_id", *FRESH], rows)
        .on_conflict_do_nothing()
        .returning(*t.c)
        .cte("made")
    )
    same = and_(t.c.chat_id == members.c.chat_id, t.c.member_id == members.c.member_id)
    had = (
        select(t)
        .join(members, same)
        .order_by(t.c.chat_id, t.c.member_id)
        .with_for_update(of=t)
        .cte("had")
    )
    return union_all(select(had), select(made)).subquery("locked")


def _lock_on_conflict(stmt: Any) -> Any:
    """A no-op update of an existing row: it takes the row's lock and returns the row."""
    return stmt.on_conflict_do_update(
        index_elements=["chat_id", "member_id"], set_={"day": _table().c.day}
    )


@functools.cache
def _lock_statement(dialect: str) -> Any:
    """The lock-and-read upsert, built once per dialect and run with parameters: building a
    statement costs more than running it on the hot path."""
    chat = bindparam("chat_id", type_=BigInteger())
    at = bindparam("at", type_=UTCDateTime())
    return upsert(dialect).returning(
        *_table().c,
        rules.version_at(chat, at).label("ctx_version"),
        epochs.epoch_at(chat, at).label("ctx_epoch"),
        bot_status(chat).label("ctx_bot_status"),
        pending(chat, bindparam("message_id", type_=BigInteger())).label("ctx_pending"),
    )


async def lock(
    *, session: AsyncSession, chat_id: int, member_id: int, at: datetime, message_id: int = 0
) -> Locked:
    """Creates the member's state if new, locks it, and reads it with the cause's context
    (and, for a message, whether reactions on it came first)."""
    params = {"chat_id": chat_id, "member_id": member_id, "at": at, "message_id": message_id}
    row = (await sql.run(session, _lock_statement(sql.dialect(session)), params)).one()
    return Locked(
        state=from_row(row),
        version=row.ctx_version,
        epoch_id=row.ctx_epoch,
        bot_status=row.ctx_bot_status,
        referrer_id=row.referrer_id,
        joined_at=row.joined_at,
        invite_credited=bool(row.invite_credited),
        pending_reactions=bool(row.ctx_pending),
    )


async def context(
    *, session: AsyncSession, chat_id: int, at: datetime
) -> tuple[int | None, int | None]:
    """The rules version and open epoch at `at`, read without touching any state."""
    stmt = select(
        rules.version_at(chat_id, at).label("version"), epochs.epoch_at(chat_id, at).label("epoch")
    )
    version, epoch_id = (await sql.run(session, stmt)).one()
    return version, epoch_id


def _intake() -> Table:
    """The `engagement_intake` view (see `core.models_engagement.engagement_ddl`)."""
    ledger_table = LedgerEntry.__table__  # type: ignore[attr-defined]
    state_table = _table()
    columns = [Column(name, ledger_table.c[name].type) for name in INTAKE_ENTRY]
    columns += [Column(name, state_table.c[name].type) for name in INTAKE_STATE]
    return Table("engagement_intake", MetaData(), *columns)


@functools.cache
def _intake_statement() -> Any:
    view = _intake()
    return insert(view).values({c.name: bindparam(c.name, type_=c.type) for c in view.c})


async def write(
    *,
    session: AsyncSession,
    entry: ledger.Entry,
    state: MemberState,
    invite_credited: bool,
) -> None:
    """Writes a message's ledger entry, its score and the member's new state in one statement.

    The entry's cause must be new (the message was just recorded for the first time).
    """
    await sql.run(session, _intake_statement(), intake_values(entry, state, invite_credited))


def intake_values(
    entry: ledger.Entry,
    state: MemberState,
    invite_credited: bool,
    *,
    created_at: datetime | None = None,
) -> dict[str, Any]:
    """One row of the `engagement_intake` view: a message's entry with the member's new state,
    written at `created_at` (default: now)."""
    params = {name: getattr(entry, name) for name in ledger.ENTRY_COLUMNS}
    params.update(
        to_values(state), created_at=created_at or utcnow(), invite_credited=invite_credited
    )
    return params


async def write_many(*, session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Writes several `intake_values` rows in one round trip, in their order (a member's rows
    must come in date order: each carries the state after its message).

    The outcome is that of writing them one by one through the intake view: every new cause
    gets its ledger row (a known one is skipped), and each member's state is the one its last
    row carries, whether or not that row's cause was new. On PostgreSQL, from two rows on, that
    is one statement over the batch (`core.bulk`), so the ledger's statement triggers run
    once for the batch instead of the view's trigger and the ledger's once per row (a lone row
    costs less through the view). On SQLite the rows go through the view one by one, in one
    trip to the driver (`core.bulk.insert_each`).
    """
    if len(rows) < 2:
        await sql.run(session, _intake_statement(), rows)
        return
    dialect = sql.dialect(session)
    names = [*INTAKE_ENTRY, *INTAKE_STATE]
    connection = await session.connection()
    if dialect == "sqlite":
        values = [[r[n] for n in names] for r in rows]
        await insert_each(connection, _intake_statement(), names, values)
        return
    stmt, source = _batch_statement(dialect)
    batch = [[*(r[n] for n in names), i] for i, r in enumerate(rows)]
    await source.run(connection, stmt, batch)


@functools.cache
def _batch_statement(dialect: str) -> tuple[Any, RowSource]:
    """PostgreSQL's batch write and its `RowSource` (the view's columns and each row's
    position): the batch's ledger rows inserted in their order, and each member's state set to
    its last row's."""
    view = _intake()
    source = row_source(dialect, "intake", (*view.c, Column("position", Integer())))
    entry = ", ".join(INTAKE_ENTRY)
    new_state = ", ".join(f"{c} = b.{c}" for c in INTAKE_STATE)
    statement = (
        f"WITH batch AS ({source.select_sql}),"
        f" entries AS (INSERT INTO engagement_ledger ({entry}) SELECT {entry} FROM batch"
        " ORDER BY position ON CONFLICT (chat_id, cause, revision) DO NOTHING)"
        f" UPDATE engagement_member_state s SET {new_state}"
        " FROM (SELECT DISTINCT ON (chat_id, member_id) * FROM batch"
        " ORDER BY chat_id, member_id, position DESC) b"
        " WHERE s.chat_id = b.chat_id AND s.member_id = b.member_id"
    )
    return text(statement), source


async def save_extra(*, session: AsyncSession, chat_id: int, member_id: int, **extra: Any) -> None:
    """Writes only the given columns of the member's state row."""
    t = _table()
    stmt = update(t).where(t.c.chat_id == chat_id, t.c.member_id == member_id).values(**extra)
    await sql.run(session, stmt)


async def resolve_context(
    *, session: AsyncSession, chat_id: int, at: datetime, version: int | None, epoch_id: int | None
) -> tuple[int | None, int | None]:
    """Sets a group up on its first cause; otherwise leaves a missing epoch missing."""
    if version is not None and epoch_id is not None:
        return version, epoch_id
    if await epochs.has_epochs(session=session, chat_id=chat_id):
        return version, epoch_id
    await epochs.ensure_setup(session=session, chat_id=chat_id)
    return await context(session=session, chat_id=chat_id, at=at)
