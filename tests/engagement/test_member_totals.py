"""The running totals (`engagement_member_totals`) always equal the ledger's sums, on SQLite and
PostgreSQL: through every path that writes the ledger (scored messages through the intake view,
late messages and their corrections, duplicate deliveries, interactions over the cap, grants,
penalties, app events within and over a cap), under concurrent transactions, for any order of
revisions, and when the migration fills them from a ledger written before they existed."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from core import repo
from core.clock import utcnow
from core.db import create_engine, session_factory, transaction
from core.migrate import downgrade, upgrade
from core.models_totals import corrects, totals_backfill, totals_ddl, totals_drop_ddl
from engagement import board, epochs, grants, interactions, ledger, review, rules
from tests.engagement.helpers_engagement import (
    TEXTS,
    assert_totals_match_the_ledger,
    expected_totals,
    group_sessions,
    ledger_rows,
    migration,
    post,
    stored_totals,
)

CHAT = -1008900
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
# Four texts, so that message 5 repeats message 1's text.
FOUR_TEXTS = TEXTS[:4]

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[Sessions]:
    async with group_sessions(database_url, CHAT) as made:
        async with transaction(made) as session:
            await epochs.ensure_setup(session=session, chat_id=CHAT)
            _, current = await rules.current(session=session, chat_id=CHAT)
            await rules.set_rules(
                session=session,
                chat_id=CHAT,
                by=None,
                rules=current.model_copy(update={"app_events": {"played": 4, "won": 9}}),
            )
        yield made


async def open_epoch(sessions: Sessions, chat_id: int = CHAT) -> int:
    async with transaction(sessions) as session:
        await epochs.ensure_setup(session=session, chat_id=chat_id)
        epoch = await epochs.current(session=session, chat_id=chat_id)
    assert epoch is not None and epoch.id is not None
    return epoch.id


async def say(sessions: Sessions, message_id: int, seconds: int, member: int = 7) -> None:
    await post(
        sessions,
        chat_id=CHAT,
        message_id=message_id,
        member_id=member,
        sent_at=T0 + timedelta(seconds=seconds),
        text=FOUR_TEXTS[message_id % len(FOUR_TEXTS)],
    )


def test_the_migration_snapshots_match_the_models() -> None:
    made, statements, probe = migration("0010"), migration("0012"), migration("0014")
    for dialect in ("sqlite", "postgresql"):
        assert statements.DROP[dialect] == totals_drop_ddl(dialect)
        assert statements.PREVIOUS_TOTALS[dialect] == made.RULES[dialect]
        assert made.BACKFILL[dialect] == totals_backfill(dialect)
    assert statements.TOTALS["sqlite"] == totals_ddl("sqlite")
    assert totals_ddl("postgresql") == probe.TOTALS
    assert statements.TOTALS["postgresql"] == probe.PREVIOUS_TOTALS


async def react(sessions: Sessions, message_id: int, author: int, actors: range) -> None:
    async with transaction(sessions) as session:
        for actor in actors:
            await interactions.credit(
                session=session,
                chat_id=CHAT,
                message_id=message_id,
                kind="reaction",
                author_id=author,
                target_sent_at=T0,
                actor_id=actor,
                at=T0 + timedelta(seconds=actor),
                update_id=500 + actor,
            )


async def app_event(sessions: Sessions, app_id: str, event: str, name: str, cap: int) -> None:
    async with transaction(sessions) as session:
        await grants.app_event(
            session=session,
            chat_id=CHAT,
            member_id=7,
            app_id=app_id,
            event_id=event,
            name=name,
            at=utcnow(),  # the app_events rules were set just now
            cap=cap,
        )


async def test_every_write_path_keeps_the_totals_equal_to_the_ledger(sessions: Sessions) -> None:
    for i, seconds in enumerate((40, 100, 130, 400)):
        await say(sessions, i + 2, seconds)  # 130 s falls in the cooldown of 100 s
    await say(sessions, 3, 100)  # delivered twice: credited once
    await say(sessions, 1, 0)  # late: message 2 (40 s) now falls in its cooldown
    await say(sessions, 20, 50, member=8)
    await assert_totals_match_the_ledger(sessions)
    assert any(r.revision for r in await ledger_rows(sessions)), "a correction was written"

    async with transaction(sessions) as session:
        await repo.record_message(
            session=session, chat_id=CHAT, message_id=1, member_id=7, update_id=10_001,
            kind="text", text_length=30, reply_to_message_id=None, sent_at=T0,
        )  # fmt: skip
    await react(sessions, 1, 7, range(7, 20))  # one self-reaction, then more than the cap
    await react(sessions, 1, 7, range(9, 12))  # re-delivered reactions
    for update_id, points in ((900, 50), (901, -20), (900, 50)):
        async with transaction(sessions) as session:
            await grants.manual(
                session=session, chat_id=CHAT, member_id=7, points=points, by=1,
                reason="because", update_id=update_id, at=T0 + timedelta(minutes=5),
            )  # fmt: skip
    for event in ("e1", "e2", "e3", "e2"):
        await app_event(sessions, "app_one", event, "played", cap=10)  # e3 is over the cap
    await app_event(sessions, "app_two", "e1", "won", cap=10)
    await assert_totals_match_the_ledger(sessions)

    epoch_id = await open_epoch(sessions)
    rows = await ledger_rows(sessions)
    async with transaction(sessions) as session:
        for app_id in ("app_one", "app_two", "app_three"):
            assert await grants.app_points(
                session=session, epoch_id=epoch_id, member_id=7, app_id=app_id
            ) == sum(r.points for r in rows if r.cause.startswith(f"app:{app_id}:"))
        assert (
            await grants.app_points(
                session=session, epoch_id=epoch_id, member_id=7, app_id="app_one"
            )
            == 8
        )
        before = await board.summary(session=session, epoch_id=epoch_id, member_id=7)
        await review.decide(
            session=session, chat_id=CHAT, member_id=7, status=review.EXCLUDED, by=1, reason="x"
        )
        # Excluded: the points stay in the ledger and in the totals, not in the allocation.
        assert await board.summary(session=session, epoch_id=epoch_id, member_id=7) == before
        assert 7 not in await board.allocation_scores(
            session=session, epoch_id=epoch_id, chat_id=CHAT
        )
        sums = await ledger.sums(session=session, epoch_id=epoch_id)
        assert await ledger.cached(session=session, epoch_id=epoch_id) == sums
    await assert_totals_match_the_ledger(sessions)
    assert before.breakdown.total == sums[7]
    assert before.breakdown.by_kind == {
        "app": 17,
        "grant": 50,
        "message": 20,
        "penalty": -20,
        "reaction": 10,
    }
    # msg:1 and msg:3 count; msg:2 was corrected into a cooldown, msg:5 into a duplicate.
    assert before.breakdown.counted_messages == 2
    assert before.breakdown.not_counted == {"cooldown": 2, "duplicate": 1}
    assert sum(r.entries for r in before.by_rule) == sum(1 for r in rows if r.member_id == 7)


def entry(
    epoch_id: int,
    member: int,
    cause: str,
    *,
    revision: int = 0,
    rule: str,
    points: int,
    chat_id: int = CHAT,
) -> ledger.Entry:
    kind = "app" if cause.startswith("app:") else "message" if cause.startswith("msg:") else "reply"
    return ledger.Entry(
        chat_id=chat_id, epoch_id=epoch_id, member_id=member, kind=kind, rule=rule, points=points,
        rules_version=1, cause=cause, revision=revision, occurred_at=T0,
    )  # fmt: skip


async def test_concurrent_transactions_keep_the_totals(sessions: Sessions) -> None:
    """Many transactions credit the same members and rules at once, some with the same causes
    (each credited once): the totals' upserts add up, whichever commits first."""
    epoch_id = await open_epoch(sessions)

    async def writer(n: int) -> None:
        batch = [
            entry(epoch_id, member, f"msg:{n % 6}:{member}", rule="message", points=3)
            for member in (7, 8, 9)
        ] + [
            entry(epoch_id, 7, f"reply:{n}", rule="reply", points=-1),
            entry(epoch_id, 8, f"app:a:{n}", rule="app:x", points=2),
        ]
        for attempt in range(20):
            try:
                async with transaction(sessions) as session:
                    await ledger.append(session=session, entries=batch)
                return
            except Exception:  # SQLite's busy writer: try again, as a client would
                if attempt == 19:
                    raise
                await asyncio.sleep(0.05)

    await asyncio.gather(*(writer(n) for n in range(24)))
    await assert_totals_match_the_ledger(sessions)
    totals = await stored_totals(sessions)
    assert totals[(epoch_id, 7, "message", "message", "")] == (18, 6, 6, 0)
    assert totals[(epoch_id, 7, "reply", "reply", "")] == (-24, 24, 0, 0)
    assert totals[(epoch_id, 8, "app", "app:x", "a")] == (48, 24, 0, 0)


# A message's revisions in a scrambled order (each also delivered twice): a later revision
# first, then the one it corrects, then one in between.
SCRAMBLED = [
    ("msg:1", 2, "duplicate", -5),
    ("msg:2", 0, "message", 10),
    ("msg:1", 0, "message", 10),
    ("msg:2", 1, "cooldown", -10),
    ("msg:1", 1, "cooldown", -3),
    ("msg:3", 1, "message", 10),
    ("msg:3", 0, "cooldown", 0),
]


async def test_revisions_out_of_order_on_each_database(sessions: Sessions) -> None:
    """Whatever order a message's revisions are written in, one at a time, it ends under its
    highest revision's rule, counted iff its net is positive."""
    epoch_id = await open_epoch(sessions)
    for cause, revision, rule, points in [*SCRAMBLED, *SCRAMBLED]:
        async with transaction(sessions) as session:
            await ledger.append(
                session=session,
                entries=[entry(epoch_id, 7, cause, revision=revision, rule=rule, points=points)],
            )
        await assert_totals_match_the_ledger(sessions)
    async with sessions() as session:
        made = await board.breakdown(session=session, epoch_id=epoch_id, member_id=7)
    # msg:1 nets 2 under `duplicate`; msg:2 nets 0 under `cooldown`; msg:3 nets 10.
    assert (made.counted_messages, made.not_counted) == (2, {"cooldown": 1})


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One migrated SQLite database for all the examples; each writes in a group of its own."""
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('totals') / 'scratch.db'}"
    upgrade(url)
    return url


GROUPS = itertools.count(-1009000000)


# (message, revision, rule, points): a few messages, each with a few revisions.
ROWS = st.lists(
    st.tuples(
        st.integers(0, 3),
        st.integers(0, 3),
        st.sampled_from(["message", "cooldown", "duplicate"]),
        st.integers(-10, 10),
    ),
    max_size=25,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=ROWS, batches=st.integers(1, 5))
def test_revisions_in_any_order_keep_each_message_under_its_final_decision(
    scratch: str, rows: list[tuple[int, int, str, int]], batches: int
) -> None:
    """Revisions arrive in any order and any number of times (one transaction at a time): each
    message is counted once, under its highest revision's rule, counted iff its net is > 0."""

    async def run() -> None:
        engine = create_engine(scratch)
        made = session_factory(engine)
        chat_id = next(GROUPS)
        epoch_id = await open_epoch(made, chat_id)
        entries = [
            entry(epoch_id, 7, f"msg:{m}", revision=rev, rule=rule, points=p, chat_id=chat_id)
            for m, rev, rule, p in rows
        ]
        for start in range(batches):
            async with transaction(made) as session:
                await ledger.append(session=session, entries=entries[start::batches])
        await assert_totals_match_the_ledger(made)
        await engine.dispose()

    asyncio.run(run())


async def test_the_migration_fills_the_totals_from_the_ledger(database_url: str) -> None:
    """A ledger written before the totals existed (revisions, apps, penalties) is summed up by
    the migration; afterwards the trigger carries on from there."""
    await asyncio.to_thread(upgrade, database_url, "0009")
    engine = create_engine(database_url)
    made = session_factory(engine)
    async with transaction(made) as session:
        await epochs.ensure_setup(session=session, chat_id=CHAT)
    epoch_id = await open_epoch(made)
    old = [
        entry(epoch_id, 7, "msg:1", rule="message", points=10),
        entry(epoch_id, 7, "msg:1", revision=1, rule="cooldown", points=-10),
        entry(epoch_id, 7, "msg:2", rule="cooldown", points=0),
        entry(epoch_id, 7, "msg:3", rule="message", points=10),
        entry(epoch_id, 8, "msg:4", rule="duplicate", points=0),
        entry(epoch_id, 8, "msg:4", revision=1, rule="message", points=10),
        entry(epoch_id, 7, "reply:1", rule="reply", points=-2),
        entry(epoch_id, 7, "app:a1:e1", rule="app:x", points=4),
        entry(epoch_id, 7, "app:a2:e1", rule="app:x", points=5),
    ]
    async with transaction(made) as session:
        await ledger.append(session=session, entries=old)
    await asyncio.to_thread(upgrade, database_url)
    expected = expected_totals(await ledger_rows(made))
    assert await stored_totals(made) == expected
    assert expected[(epoch_id, 7, "message", "cooldown", "")] == (-10, 2, 0, 2)
    assert expected[(epoch_id, 8, "message", "message", "")] == (10, 1, 1, 0)
    async with transaction(made) as session:
        await ledger.append(
            session=session,
            entries=[entry(epoch_id, 7, "msg:2", revision=1, rule="message", points=10)],
        )
    await assert_totals_match_the_ledger(made)
    await asyncio.to_thread(downgrade, database_url, "0009")
    await asyncio.to_thread(upgrade, database_url)
    await assert_totals_match_the_ledger(made)
    await engine.dispose()


async def test_the_correction_probe_reads_one_cause_even_before_the_ledger_has_statistics(
    postgres_url: str,
) -> None:
    """PostgreSQL's trigger asks, for every new row, whether its cause has other revisions. A
    planner that knows nothing of the ledger yet (never analyzed) must still answer that
    through the unique (chat, cause, revision) key, not by reading the chat's rows in time
    order: the plan is kept for the session, and each batch would read the whole group.

    The ledger here is a temporary copy (it shadows the table for this session): autovacuum
    never analyzes a temporary table, so the planner surely has no statistics."""
    engine = create_engine(postgres_url)
    probe = corrects("postgresql", "n.")
    params = "$1::bigint, $2::varchar, $3::integer, $4::integer, $5::bigint, 'message'::varchar"
    columns = "chat_id, cause, revision, epoch_id, member_id, kind"
    async with engine.begin() as conn:
        run = conn.exec_driver_sql
        await run(
            "CREATE TEMPORARY TABLE engagement_ledger"
            " (LIKE public.engagement_ledger INCLUDING DEFAULTS INCLUDING INDEXES)"
        )
        await run(
            "INSERT INTO engagement_ledger (chat_id, epoch_id, member_id, kind, rule, points,"
            " rules_version, cause, revision, occurred_at, created_at)"
            f" SELECT {CHAT}, 1, i % 50, 'message', 'message', 10, 1, 'msg:' || i, 0, now(), now()"
            " FROM generate_series(1, 3000) i"
        )
        indexes = {
            definition.split(" USING btree ")[1]: name
            for name, definition in await run(
                "SELECT indexname, indexdef FROM pg_indexes"
                " WHERE tablename = 'engagement_ledger' AND schemaname LIKE 'pg_temp%'"
            )
        }
        await run("SET plan_cache_mode = force_generic_plan")
        await run(f"PREPARE probe AS SELECT {probe} FROM (SELECT {params}) AS n({columns})")
        plan = "\n".join(row[0] for row in await run("EXPLAIN EXECUTE probe(1, 'x', 0, 1, 7)"))
    await engine.dispose()
    assert indexes["(chat_id, cause, revision)"] in plan, plan
    assert indexes["(chat_id, occurred_at)"] not in plan, plan
