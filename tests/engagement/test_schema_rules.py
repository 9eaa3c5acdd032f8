"""The database-side rules of engagement: the score trigger and the intake view exist however
the schema was made (migrations or `create_all`), on SQLite and PostgreSQL, and they work."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import text
from sqlmodel import SQLModel

import core.models
import core.models_engagement
from core.db import create_engine
from core.migrate import upgrade
from core.models_engagement import engagement_ddl, engagement_drop_ddl, score_ddl
from tests.engagement.helpers_engagement import migration

RULE_OBJECTS = {
    "engagement_ledger_score",
    "engagement_ledger_totals",
    "engagement_intake",
    "engagement_intake_insert",
}
# SQLite's totals take a second trigger for corrections (PostgreSQL's is one statement trigger).
SQLITE_ONLY = {"engagement_ledger_corrections"}
CHAT = -1005


def test_the_migration_snapshots_match_the_models() -> None:
    """0003 made the rules; 0012 replaced PostgreSQL's score trigger (and keeps 0003's for
    its downgrade)."""
    made, latest = migration("0003"), migration("0012")
    for dialect in ("sqlite", "postgresql"):
        score = len(score_ddl(dialect))
        replaced = latest.SCORE.get(dialect, made.RULES[dialect][:score])
        assert [*replaced, *made.RULES[dialect][score:]] == engagement_ddl(dialect)
        assert latest.PREVIOUS_SCORE.get(dialect, replaced) == made.RULES[dialect][:score]
        assert made.DROP[dialect] == engagement_drop_ddl(dialect)


async def rule_objects(url: str) -> set[str]:
    engine = create_engine(url)
    async with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            query = "SELECT name FROM sqlite_master WHERE type IN ('view', 'trigger')"
        else:
            query = (
                "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
                " UNION SELECT viewname FROM pg_views WHERE schemaname = 'public'"
            )
        found = {row[0] for row in (await conn.execute(text(query))).all()}
    await engine.dispose()
    return found & (RULE_OBJECTS | SQLITE_ONLY)


def expected_objects(url: str) -> set[str]:
    return RULE_OBJECTS | (SQLITE_ONLY if url.startswith("sqlite") else set())


async def test_create_all_makes_and_drop_all_removes_the_rules(empty_database_url: str) -> None:
    engine = create_engine(empty_database_url)
    async with engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.create_all)
    assert await rule_objects(empty_database_url) == expected_objects(empty_database_url)
    async with engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.create_all)  # a second time changes nothing
        await conn.run_sync(SQLModel.metadata.drop_all)
    await engine.dispose()
    assert await rule_objects(empty_database_url) == set()
    assert core.models.Member.__tablename__ and core.models_engagement.Score.__tablename__


async def test_any_ledger_insert_moves_the_score_and_totals_once(database_url: str) -> None:
    await asyncio.to_thread(upgrade, database_url)
    assert await rule_objects(database_url) == expected_objects(database_url)
    engine = create_engine(database_url)
    at = datetime(2026, 11, 1, tzinfo=UTC)
    insert = text(
        "INSERT INTO engagement_ledger (chat_id, epoch_id, member_id, kind, rule, points,"
        " rules_version, cause, revision, occurred_at, created_at)"
        " VALUES (:chat, 1, 7, 'grant', 'grant', :points, 1, :cause, 0, :at, :at)"
        " ON CONFLICT DO NOTHING"
    )
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO engagement_campaigns (id, chat_id, name, created_at)"
                " VALUES (1, :chat, 'c', :at)"
            ),
            {"chat": CHAT, "at": at},
        )
        await conn.execute(
            text(
                "INSERT INTO engagement_epochs (id, chat_id, campaign_id, number, state, starts_at)"
                " VALUES (1, :chat, 1, 1, 'open', :at)"
            ),
            {"chat": CHAT, "at": at},
        )
        for cause, points in [("a", 5), ("b", -2), ("a", 5), ("c", 0)]:
            await conn.execute(insert, {"chat": CHAT, "points": points, "cause": cause, "at": at})
    async with engine.connect() as conn:
        score = (await conn.execute(text("SELECT points FROM engagement_scores"))).all()
        totals = (
            await conn.execute(text("SELECT rule, points, entries FROM engagement_member_totals"))
        ).all()
    await engine.dispose()
    assert score == [(3,)]
    assert totals == [("grant", 3, 3)]  # the zero-point entry counts too; the replay does not
