"""`state.write_many` on SQLite and PostgreSQL: a batch of intake rows leaves the ledger, the
score cache, the running totals and the members' states exactly as writing the rows one at a
time through the intake view does, and the caches equal a recomputation from the ledger.

The batches hold several members, one member with several rows, causes already written
(skipped, but their rows' states still apply), zero and negative points, app and reply rows,
and corrections of earlier batches' messages, in a batch and one by one afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from core import repo
from core.db import transaction
from core.models_engagement import INTAKE_STATE, LedgerEntry, Score
from core.models_engagement import MemberState as StateRow
from core.models_totals import MemberTotal, totals_backfill
from engagement import epochs, ledger, sql, state
from engagement.scoring import MemberState
from tests.engagement.helpers_engagement import expected_totals, group_sessions, ledger_rows

BATCHED = -1008700  # written with write_many
SINGLY = -1008701  # the same rows, one at a time through the view
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
MEMBERS = (7, 8, 9, 10)

Sessions = async_sessionmaker[AsyncSession]
# (member, cause, revision, rule, points); the kind follows from the cause.
Row = tuple[int, str, int, str, int]

EARLIER: list[Row] = [(10, "msg:5", 0, "message", 10)]
FIRST: list[Row] = [
    (7, "msg:1", 0, "message", 10),
    (7, "msg:2", 0, "cooldown", 0),
    (7, "app:game:e1", 0, "app:played", 4),
    (7, "app:game:e3", 0, "app:played", 4),  # the same totals row twice in one statement
    (8, "msg:3", 0, "message", 10),
    (8, "app:game:e2", 0, "app:played", 4),
    (8, "app:quiz:e1", 0, "app:won", 9),
    (9, "reply:3:9", 0, "reply", -2),
    (9, "msg:8", 0, "message", 10),
    (10, "msg:4", 0, "duplicate", 0),
    (10, "msg:5", 0, "message", 10),  # already written: skipped, its state kept
]
# Corrections of the first batch's messages, with new rows and a repeated cause among them.
SECOND: list[Row] = [
    (7, "msg:1", 1, "cooldown", -10),
    (7, "msg:9", 0, "message", 10),
    (8, "msg:3", 1, "duplicate", -10),
    (8, "msg:6", 0, "message", 10),
    (9, "msg:8", 1, "cooldown", -5),
    (9, "reply:3:9", 0, "reply", -2),  # already written: skipped, its state kept
    (10, "msg:4", 1, "message", 10),
]
LATER: list[Row] = [
    (7, "msg:2", 1, "message", 10),
    (8, "msg:3", 2, "message", 10),
    (9, "msg:7", 0, "cooldown", 0),
]


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[Sessions]:
    async with group_sessions(database_url, BATCHED) as made:
        async with transaction(made) as session:
            await repo.upsert_chat(
                session=session, id=SINGLY, type="supergroup", title="T", username=None
            )
            for chat_id in (BATCHED, SINGLY):
                await epochs.ensure_setup(session=session, chat_id=chat_id)
                for member in MEMBERS:
                    await state.lock(session=session, chat_id=chat_id, member_id=member, at=T0)
        yield made


async def epoch_of(sessions: Sessions, chat_id: int) -> int:
    async with sessions() as session:
        epoch = await epochs.current(session=session, chat_id=chat_id)
    assert epoch is not None and epoch.id is not None
    return epoch.id


def entry(chat_id: int, epoch_id: int, row: Row, n: int) -> ledger.Entry:
    member, cause, revision, rule, points = row
    kind = cause.split(":")[0].replace("msg", "message")
    return ledger.Entry(
        chat_id=chat_id, epoch_id=epoch_id, member_id=member, kind=kind, rule=rule,
        points=points, rules_version=1, cause=cause, revision=revision,
        occurred_at=T0 + timedelta(seconds=n), message_id=n, text_hash=n * 7919,
    )  # fmt: skip


def after(n: int) -> MemberState:
    """A state that tells the rows apart: the one the `n`-th row leaves."""
    ts = int(T0.timestamp()) + n
    return MemberState(
        latest=(ts, n), last_credit_ts=ts - n % 3, day=n, day_count=n % 4, day_points=n * 10,
        recent=((ts - 5, n), (ts, n * 7919)), has_qualified=n % 2 == 0,
    )  # fmt: skip


async def write(sessions: Sessions, chat_id: int, rows: list[Row], start: int) -> list[dict]:
    """Writes `rows` in one `write_many` (BATCHED) or one `write` each (SINGLY)."""
    epoch_id = await epoch_of(sessions, chat_id)
    numbered = [
        (entry(chat_id, epoch_id, row, start + i), after(start + i)) for i, row in enumerate(rows)
    ]
    intake = [state.intake_values(e, s, False) for e, s in numbered]
    async with transaction(sessions) as session:
        if chat_id == BATCHED:
            await state.write_many(session=session, rows=intake)
        else:
            for e, s in numbered:
                await state.write(session=session, entry=e, state=s, invite_credited=False)
    return intake


async def correct(sessions: Sessions, chat_id: int, rows: list[Row], start: int) -> None:
    """Writes corrections as the slow path does, one ledger row at a time."""
    epoch_id = await epoch_of(sessions, chat_id)
    async with transaction(sessions) as session:
        for i, row in enumerate(rows):
            await ledger.append(session=session, entries=[entry(chat_id, epoch_id, row, start + i)])


async def outcome(sessions: Sessions, chat_id: int) -> dict[str, Any]:
    """A chat's ledger, scores, totals and states, keyed without its chat and epoch ids."""
    async with sessions() as session:
        conn = await session.connection()
        rows = (
            await conn.execute(
                select(LedgerEntry.__table__)
                .where(LedgerEntry.chat_id == chat_id)  # type: ignore[attr-defined]
                .order_by(LedgerEntry.id)  # type: ignore[arg-type]
            )
        ).all()
        epoch_id = await epoch_of(sessions, chat_id)
        scores = (
            await conn.execute(select(Score.__table__).where(Score.epoch_id == epoch_id))  # type: ignore[attr-defined]
        ).all()
        totals = (
            await conn.execute(
                select(MemberTotal.__table__).where(MemberTotal.epoch_id == epoch_id)  # type: ignore[attr-defined]
            )
        ).all()
        states = (
            await conn.execute(
                select(StateRow.__table__).where(StateRow.chat_id == chat_id)  # type: ignore[attr-defined]
            )
        ).all()
    return {
        "ledger": [
            (
                r.member_id,
                r.kind,
                r.rule,
                r.points,
                r.cause,
                r.revision,
                r.message_id,
                r.occurred_at,
            )
            for r in rows
        ],
        "scores": {r.member_id: r.points for r in scores},
        "totals": {
            (r.member_id, r.kind, r.rule, r.app_id): (r.points, r.entries, r.counted, r.not_counted)
            for r in totals
        },
        "states": {r.member_id: {c: getattr(r, c) for c in INTAKE_STATE} for r in states},
    }


def stored_state(values: dict[str, Any]) -> dict[str, Any]:
    """An intake row's state as it reads back (JSON pairs come back as lists)."""
    stored = {c: values[c] for c in INTAKE_STATE}
    stored["recent"] = [list(pair) for pair in values["recent"]]
    return stored


async def recomputed_totals(sessions: Sessions) -> dict[tuple[Any, ...], tuple[int, ...]]:
    """The totals as the migration's backfill computes them from the ledger alone."""
    table = MemberTotal.__table__  # type: ignore[attr-defined]
    async with sessions() as session:
        conn = await session.connection()
        await conn.execute(delete(table))
        for statement in totals_backfill(sql.dialect(session)):
            await conn.exec_driver_sql(statement)
        rows = (await conn.execute(select(table))).all()
        await session.rollback()
    return {
        (r.epoch_id, r.member_id, r.kind, r.rule, r.app_id): (
            r.points, r.entries, r.counted, r.not_counted,
        )
        for r in rows
    }  # fmt: skip


async def test_a_batch_writes_what_the_rows_one_by_one_write(sessions: Sessions) -> None:
    for chat_id in (BATCHED, SINGLY):
        await write(sessions, chat_id, EARLIER, 0)
    for rows, start in ((FIRST, 10), (SECOND, 30)):
        for chat_id in (SINGLY, BATCHED):
            written = await write(sessions, chat_id, rows, start)
        batched = await outcome(sessions, BATCHED)
        assert batched == await outcome(sessions, SINGLY)
        # Each member's state is its last row's, also where that row's cause was known.
        last = {row["member_id"]: row for row in written}
        assert batched["states"] == {m: stored_state(last[m]) for m in MEMBERS}
    # Each cause and revision once, in the order of the rows.
    assert [(cause, rev) for _, _, _, _, cause, rev, _, _ in batched["ledger"]] == [
        (cause, rev) for _, cause, rev, _, _ in [*EARLIER, *FIRST[:-1], *SECOND[:-2], SECOND[-1]]
    ]

    for chat_id in (BATCHED, SINGLY):
        await correct(sessions, chat_id, LATER, 50)
    assert await outcome(sessions, BATCHED) == await outcome(sessions, SINGLY)


async def test_the_caches_equal_a_recomputation_from_the_ledger(sessions: Sessions) -> None:
    await write(sessions, BATCHED, EARLIER, 0)
    await write(sessions, BATCHED, FIRST, 10)
    await write(sessions, BATCHED, SECOND, 30)
    await correct(sessions, BATCHED, LATER, 50)
    epoch_id = await epoch_of(sessions, BATCHED)
    async with sessions() as session:
        summed = await ledger.sums(session=session, epoch_id=epoch_id)
        cached = await ledger.cached(session=session, epoch_id=epoch_id)
    assert cached == summed == {7: 28, 8: 33, 9: 3, 10: 20}
    expected = expected_totals(await ledger_rows(sessions))
    assert await recomputed_totals(sessions) == expected
    stored = (await outcome(sessions, BATCHED))["totals"]
    assert stored == {key[1:]: value for key, value in expected.items()}
    # msg:1 ends in a cooldown (net 0) and msg:2 under `message`; msg:3 counts under `message`
    # after two corrections; msg:4 moved from `duplicate` to `message`; msg:8 nets 5 under
    # `cooldown`.
    assert stored[(7, "message", "cooldown", "")] == (-10, 2, 0, 1)
    assert stored[(7, "message", "message", "")] == (30, 3, 2, 0)
    assert stored[(8, "message", "message", "")] == (30, 3, 2, 0)
    assert stored[(10, "message", "duplicate", "")] == (0, 1, 0, 0)
    assert stored[(10, "message", "message", "")] == (20, 2, 2, 0)
    assert stored[(9, "message", "cooldown", "")] == (-5, 2, 1, 1)
    assert stored[(7, "app", "app:played", "game")] == (8, 2, 0, 0)
    assert stored[(8, "app", "app:played", "game")] == (4, 1, 0, 0)
    assert stored[(9, "reply", "reply", "")] == (-2, 1, 0, 0)
