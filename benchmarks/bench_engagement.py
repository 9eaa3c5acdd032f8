"""Engagement: webhook ingestion scored into the ledger, and `/top` and `/points` at scale.

Ingestion reuses `bench_webhook`'s servers, databases and load generator: the same updates go
through the whole gateway with a no-op handler (the baseline) and with the bot's handlers, which
score every message into the ledger with the default rules, the two servers loaded in turns.
Afterwards the ledger must hold one decision per message and exactly the points that
`engagement.scoring` gives when it judges the same messages in date order.

The read side seeds a group of 100,000 members with 5,000,000 ledger entries by bulk inserts
(SQL-side generators; indexes, the score cache and the running totals built afterwards, the
totals by the migration's own backfill statements) and times what `/points` and `/top` do in
the database, rendering included. Seeding takes minutes, so the seeded databases are kept (a file
in the temp folder, a PostgreSQL database named after a fingerprint of the seed and of the
schema of the tables it involves) and reused by later runs while those stay the same.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import sqlite3
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from benchmarks import bench_webhook as webhook
from benchmarks.harness import Row
from benchmarks.load import CHAT, body
from core.clock import from_timestamp
from core.migrate import upgrade
from core.models_engagement import engagement_ddl
from core.models_totals import TRIGGER as TOTALS_TRIGGER
from core.models_totals import totals_backfill, totals_ddl
from engagement.ingest import IncomingMessage, facts_of
from engagement.rules import DEFAULT_RULES
from engagement.scoring import MemberState, replay

# Fewer updates per sample than bench_webhook's, to keep this module short; samples much
# shorter than a second (1,000 updates) were mostly this shared machine's noise.
PER_SAMPLE = 2000
MEMBERS = 100_000
ENTRIES = 5_000_000
FIRST_MEMBER = 1_000_000
BIG_CHAT = -1009100000001
EXCLUDED = 25
ROUNDS = 3
CALLS = 300
CACHE = Path(tempfile.gettempdir()) / "townsquare-bench"
PG_BASE = webhook.POSTGRES_ADMIN.rsplit("/", 1)[0]


# Ingestion ------------------------------------------------------------------------------


def expected_ledger(update_ids: list[int]) -> tuple[int, int]:
    """Messages sent and the points the default rules give them, judged in date order."""
    by_member: defaultdict[int, list[dict[str, Any]]] = defaultdict(list)
    for update_id in update_ids:
        message = orjson.loads(body(update_id))["message"]
        by_member[message["from"]["id"]].append(message)
    total = 0
    for member, messages in by_member.items():
        messages.sort(key=lambda m: (m["date"], m["message_id"]))
        facts = []
        for m in messages:
            at = from_timestamp(m["date"])
            incoming = IncomingMessage(int(CHAT["id"]), m["message_id"], member, 0, at, m["text"])
            facts.append((facts_of(incoming, DEFAULT_RULES, at), DEFAULT_RULES.message))
        decisions, _ = replay(MemberState(), facts)
        total += sum(d.points for d in decisions)
    return len(update_ids), total


def query(url: str, sql: str) -> list[tuple[object, ...]]:
    if url.startswith("postgresql"):

        async def run() -> list[tuple[object, ...]]:
            conn = await asyncpg.connect(url.replace("+asyncpg", ""))
            try:
                return [tuple(r) for r in await conn.fetch(sql)]
            finally:
                await conn.close()

        return asyncio.run(run())
    with sqlite3.connect(url.split("///", 1)[1]) as conn:
        return list(conn.execute(sql).fetchall())


def check_ledger(url: str, update_ids: list[int]) -> str:
    sent, points = expected_ledger(update_ids)
    ((decided, rows, summed),) = query(
        url,
        "SELECT count(DISTINCT cause), count(*), coalesce(sum(points), 0) FROM engagement_ledger"
        " WHERE kind = 'message'",
    )
    ((cached,),) = query(url, "SELECT coalesce(sum(points), 0) FROM engagement_scores")
    # The running totals of messages: the same points, rows and one decision per message.
    ((totalled, entries, judged),) = query(
        url,
        "SELECT coalesce(sum(points), 0), coalesce(sum(entries), 0),"
        " coalesce(sum(counted + not_counted), 0) FROM engagement_member_totals"
        " WHERE kind = 'message'",
    )
    if (decided, summed, cached, totalled, entries, judged) != (
        sent, points, points, points, rows, sent,
    ):  # fmt: skip
        msg = (
            f"ledger: {decided} decisions for {sent} messages, {summed} points "
            f"(cache {cached}; totals {totalled} points, {entries} rows, {judged} decisions),"
            f" expected {points}"
        )
        raise AssertionError(msg)
    return (
        f"{decided} messages judged ({rows} rows), {summed} points"
        " = cache = totals = date-order replay"
    )


def ingestion(kind: str) -> list[Row]:
    """Updates per second through `bench_webhook`'s servers, measured in turns, and the
    ledger check of the full one."""
    starts = [webhook.FIRST + i * PER_SAMPLE for i in range(webhook.SAMPLES)]
    with webhook.side_by_side(kind) as (noop_base, full_base, url):
        webhook.load(noop_base, 1, webhook.WARM_UP)
        webhook.load(full_base, 1, webhook.WARM_UP)
        turns = webhook.in_turns(noop_base, full_base, starts, PER_SAMPLE)
        sent = [*range(1, webhook.FIRST), *(s + i for s in starts for i in range(PER_SAMPLE))]
        note = check_ledger(url, sent)
    noop = f"engagement {kind} noop"
    return [
        Row(name=noop, unit="updates/s", samples=turns.noop),
        Row(
            name=f"engagement {kind} ledger",
            unit="updates/s",
            samples=turns.full,
            peer=noop,
            target=">= 1500/s, >= 0.6x noop",
            notes=[*turns.notes(), note],
        ),
    ]


# Seeding a big group --------------------------------------------------------------------


SETUP_SQL = [
    "INSERT INTO chats (id, type, title, bot_status, created_at, updated_at)"
    " VALUES ({chat}, 'supergroup', 'Big town', 'administrator', {now}, {now})",
    "INSERT INTO engagement_rulesets (chat_id, version, rules, effective_at, note)"
    " VALUES ({chat}, 1, '{rules}', {epoch0}, 'defaults')",
    "INSERT INTO engagement_campaigns (id, chat_id, name, created_at)"
    " VALUES (1, {chat}, 'default', {now})",
    "INSERT INTO engagement_epochs (id, chat_id, campaign_id, number, state, starts_at)"
    " VALUES (1, {chat}, 1, 1, 'open', {epoch0})",
]
MEMBERS_SQL = (
    "INSERT INTO members (id, first_name, is_bot, created_at, updated_at)"
    " SELECT {first} + i, 'Member ' || i, false, {now}, {now} FROM {series}"
)
# Skewed activity: member i gets about 50 entries; points per entry vary, so ranks spread.
LEDGER_SQL = (
    "INSERT INTO engagement_ledger (chat_id, epoch_id, member_id, kind, rule, points,"
    " rules_version, cause, revision, occurred_at, created_at)"
    " SELECT {chat}, 1, {first} + (i * 7919) % {members}, 'message',"
    " CASE WHEN i % 5 = 0 THEN 'cooldown' ELSE 'message' END,"
    " CASE WHEN i % 5 = 0 THEN 0 ELSE 1 + (i * 31) % 17 END,"
    " 1, 'msg:' || i, 0, {at}, {at} FROM {series}"
)
SCORES_SQL = (
    "INSERT INTO engagement_scores (epoch_id, member_id, chat_id, points)"
    " SELECT epoch_id, member_id, chat_id, sum(points) FROM engagement_ledger"
    " GROUP BY epoch_id, member_id, chat_id"
)
STANDING_SQL = (
    "INSERT INTO engagement_standing (chat_id, member_id, status, reason, decided_at)"
    " SELECT {chat}, member_id, 'excluded', 'benchmark', {now} FROM engagement_scores"
    " ORDER BY points DESC LIMIT {excluded}"
)
LEDGER_INDEXES = {
    "ix_engagement_ledger_epoch_member": "engagement_ledger (epoch_id, member_id, occurred_at)",
    "ix_engagement_ledger_chat_time": "engagement_ledger (chat_id, occurred_at)",
}


# The tables the seed writes and `/points` and `/top` read: the fingerprint covers their schema.
SEEDED_TABLES = (
    "chats",
    "members",
    "memberships",
    "engagement_rulesets",
    "engagement_campaigns",
    "engagement_epochs",
    "engagement_ledger",
    "engagement_scores",
    "engagement_member_totals",
    "engagement_standing",
)


def fingerprint() -> str:
    """Names the seeded data: its scale, the SQL that writes it, and the schema (tables,
    indexes, triggers) of the tables involved on both databases. Migrations of other tables
    leave it as it is, so they do not cost a reseed."""
    digest = hashlib.sha256(f"{MEMBERS}:{ENTRIES}:{EXCLUDED}:{BIG_CHAT}".encode())
    for sql in (*SETUP_SQL, MEMBERS_SQL, LEDGER_SQL, SCORES_SQL, STANDING_SQL):
        digest.update(sql.encode())
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        for name in SEEDED_TABLES:
            table = SQLModel.metadata.tables[name]
            digest.update(str(CreateTable(table).compile(dialect=dialect)).encode())
            for index in sorted(table.indexes, key=lambda i: str(i.name)):
                digest.update(str(CreateIndex(index).compile(dialect=dialect)).encode())
        for sql in (
            *engagement_ddl(dialect.name),
            *totals_ddl(dialect.name),
            *totals_backfill(dialect.name),
        ):
            digest.update(sql.encode())
    return digest.hexdigest()[:12]


def _params(**dialect: str) -> dict[str, object]:
    rules = DEFAULT_RULES.model_dump_json().replace("'", "''")
    return {
        "chat": BIG_CHAT,
        "first": FIRST_MEMBER,
        "members": MEMBERS,
        "rules": rules,
        "excluded": EXCLUDED,
        **dialect,
    }


def seed_sqlite(path: Path) -> None:
    building = path.with_suffix(".building")
    building.unlink(missing_ok=True)
    upgrade(f"sqlite+aiosqlite:///{building}")
    series = (
        "(WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {last})"
        " SELECT i FROM n)"
    )
    stamp = "'2026-11-01 00:00:00.000000'"
    params = _params(now=stamp, epoch0="'1970-01-01 00:00:00.000000'")
    with sqlite3.connect(building) as conn:
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        for sql in SETUP_SQL:
            conn.execute(sql.format(**params))
        conn.execute(MEMBERS_SQL.format(**params, series=series.format(last=MEMBERS - 1)))
        # Indexes, the score trigger and the running totals are built once after the bulk
        # insert, not per row; the totals by the migration's own backfill statements.
        conn.execute("DROP TRIGGER engagement_ledger_score")
        conn.execute(f"DROP TRIGGER {TOTALS_TRIGGER}")
        for name in LEDGER_INDEXES:
            conn.execute(f"DROP INDEX {name}")
        at = "datetime(1762000000 + i / 3, 'unixepoch') || '.000000'"
        conn.execute(LEDGER_SQL.format(**params, at=at, series=series.format(last=ENTRIES - 1)))
        for name, target in LEDGER_INDEXES.items():
            conn.execute(f"CREATE INDEX {name} ON {target}")
        conn.execute(SCORES_SQL)
        for statement in (
            *totals_backfill("sqlite"),
            *engagement_ddl("sqlite"),
            *totals_ddl("sqlite"),
        ):
            conn.execute(statement)
        conn.execute(STANDING_SQL.format(**params))
        conn.execute("ANALYZE")
    building.rename(path)


async def seed_postgres(name: str) -> None:
    admin = await asyncpg.connect(webhook.POSTGRES_ADMIN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}_building" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}_building"')
    finally:
        await admin.close()
    url = f"{PG_BASE}/{name}_building"
    await asyncio.to_thread(upgrade, url.replace("postgresql://", "postgresql+asyncpg://"))
    conn = await asyncpg.connect(url)
    params = _params(now="now()", epoch0="'1970-01-01Z'")
    try:
        await conn.execute("SET synchronous_commit = off; SET maintenance_work_mem = '512MB'")
        for sql in SETUP_SQL:
            await conn.execute(sql.format(**params))
        await conn.execute(
            MEMBERS_SQL.format(**params, series=f"generate_series(0, {MEMBERS - 1}) i")
        )
        # Constraints and indexes are built once after the bulk insert, not row by row.
        constraints = await conn.fetch(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = 'engagement_ledger'::regclass AND contype IN ('f', 'u')"
        )
        for constraint, _ in constraints:
            await conn.execute(f"ALTER TABLE engagement_ledger DROP CONSTRAINT {constraint}")
        for index in LEDGER_INDEXES:
            await conn.execute(f"DROP INDEX {index}")
        for trigger in ("engagement_ledger_score", TOTALS_TRIGGER):
            await conn.execute(f"ALTER TABLE engagement_ledger DISABLE TRIGGER {trigger}")
        await conn.execute(
            LEDGER_SQL.format(
                **params,
                at="to_timestamp(1762000000 + i / 3)",
                series=f"generate_series(0::bigint, {ENTRIES - 1}) i",
            )
        )
        for constraint, definition in constraints:
            await conn.execute(
                f"ALTER TABLE engagement_ledger ADD CONSTRAINT {constraint} {definition}"
            )
        for index, target in LEDGER_INDEXES.items():
            await conn.execute(f"CREATE INDEX {index} ON {target}")
        await conn.execute(SCORES_SQL)
        for statement in totals_backfill("postgresql"):
            await conn.execute(statement)
        for trigger in ("engagement_ledger_score", TOTALS_TRIGGER):
            await conn.execute(f"ALTER TABLE engagement_ledger ENABLE TRIGGER {trigger}")
        await conn.execute(STANDING_SQL.format(**params))
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    admin = await asyncpg.connect(webhook.POSTGRES_ADMIN)
    try:
        await admin.execute(f'ALTER DATABASE "{name}_building" RENAME TO "{name}"')
    finally:
        await admin.close()


def forget_stale(kind: str, name: str) -> None:
    """Removes seeded databases of older schemas (each takes about a gigabyte)."""
    prefix = "townsquare_bench_engagement_"
    if kind == "sqlite":
        for path in CACHE.glob(f"{prefix}*"):
            if not path.name.startswith(name):
                path.unlink(missing_ok=True)
        return
    stale = query(
        webhook.POSTGRES_ADMIN,
        f"SELECT datname FROM pg_database WHERE datname LIKE '{prefix}%' AND datname <> '{name}'",
    )
    for (database,) in stale:
        query(webhook.POSTGRES_ADMIN, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@contextmanager
def big_group(kind: str) -> Iterator[tuple[str, str]]:
    """The seeded database's URL, and whether it was seeded now or found from a past run."""
    name = f"townsquare_bench_engagement_{fingerprint()}"
    if kind == "sqlite":
        CACHE.mkdir(exist_ok=True)
        path = CACHE / f"{name}.db"
        origin = "reused from a past run"
        if not path.exists():
            forget_stale(kind, name)
            started = time.perf_counter()
            seed_sqlite(path)
            origin = f"seeded in {time.perf_counter() - started:.0f} s"
        yield f"sqlite+aiosqlite:///{path}", origin
        return
    found = query(
        webhook.POSTGRES_ADMIN, f"SELECT count(*) FROM pg_database WHERE datname = '{name}'"
    )
    origin = "reused from a past run"
    if not found[0][0]:
        forget_stale(kind, name)
        started = time.perf_counter()
        asyncio.run(seed_postgres(name))
        origin = f"seeded in {time.perf_counter() - started:.0f} s"
    yield f"{PG_BASE.replace('postgresql://', 'postgresql+asyncpg://')}/{name}", origin


# Reading it -----------------------------------------------------------------------------


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


async def time_reads(url: str) -> tuple[list[float], list[float]]:
    """p99 (ms) of `/points` and of `/top` work in each round of `CALLS` calls."""
    from bot.handlers.engagement import leaderboard_text, report
    from bot.i18n import create_i18n
    from core.db import create_engine, session_factory

    engine = create_engine(url)
    sessions = session_factory(engine)
    i18n = create_i18n()
    rnd = random.Random(7)

    async def timed(call: Callable[[AsyncSession], Awaitable[str]]) -> float:
        started = time.perf_counter()
        async with sessions() as session:
            await call(session)
        return (time.perf_counter() - started) * 1000

    def points_of(member: int) -> Callable[[AsyncSession], Awaitable[str]]:
        return lambda session: report(session, chat_id=BIG_CHAT, title="Big", member_id=member)

    def top(session: AsyncSession) -> Awaitable[str]:
        return leaderboard_text(session, chat_id=BIG_CHAT, title="Big")

    points_p99: list[float] = []
    top_p99: list[float] = []
    try:
        with i18n.context(), i18n.use_locale("en"):
            for _ in range(ROUNDS):
                members = [FIRST_MEMBER + rnd.randrange(MEMBERS) for _ in range(CALLS)]
                points_p99.append(p99([await timed(points_of(m)) for m in members]))
                top_p99.append(p99([await timed(top) for _ in range(CALLS)]))
    finally:
        await engine.dispose()
    return points_p99, top_p99


def check_seed(url: str) -> None:
    """The seeded totals hold every entry once, the score cache's points, and one decision
    per message (each seeded entry is a message of its own)."""
    ((points, entries, decisions),) = query(
        url,
        "SELECT sum(points), sum(entries), sum(counted + not_counted)"
        " FROM engagement_member_totals",
    )
    ((cached,),) = query(url, "SELECT sum(points) FROM engagement_scores")
    if (points, entries, decisions) != (cached, ENTRIES, ENTRIES):
        msg = f"seeded totals: {points} points (cache {cached}), {entries} entries, {decisions}"
        raise AssertionError(msg)


def reads(kind: str) -> list[Row]:
    with big_group(kind) as (url, origin):
        check_seed(url)
        points_p99, top_p99 = asyncio.run(time_reads(url))
    scale = f"{MEMBERS:,} members, {ENTRIES:,} entries"
    note = f"{scale}, {EXCLUDED} excluded; data {origin}; p99 of {CALLS} calls per sample"
    return [
        Row(
            f"engagement {kind} /points p99",
            "ms",
            points_p99,
            higher_is_better=False,
            target="< 50 ms",
            notes=[note],
        ),
        Row(f"engagement {kind} /top p99", "ms", top_p99, higher_is_better=False, target="< 50 ms"),
    ]


def collect() -> list[Row]:
    rows: list[Row] = []
    for kind in ("sqlite", "postgres"):
        rows += ingestion(kind)
    for kind in ("sqlite", "postgres"):
        rows += reads(kind)
    return rows
