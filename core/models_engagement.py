"""SQLModel tables of engagement: rules, campaigns and epochs, the points ledger and its caches.

The ledger is append-only: a correction is a new row (a higher `revision` of the same cause),
never an update. `engagement_scores` is a cache of ledger sums, written in the same transaction
as each entry. Every time is UTC-aware (`UTCDateTime`); Telegram ids are 64-bit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    event,
)
from sqlmodel import Field, SQLModel

from core.clock import utcnow
from core.model_base import DeferredModel
from core.models_totals import INSERTED, totals_ddl, totals_drop_ddl
from core.types import IntListsJSON, UTCDateTime

# SQLite autoincrements only an INTEGER primary key; PostgreSQL gets a 64-bit one.
LEDGER_ID = BigInteger().with_variant(Integer(), "sqlite")


def _key() -> Any:
    return Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))


def _bigint(*, nullable: bool = False, default: int | None = 0) -> Any:
    return Field(default=default, sa_column=Column(BigInteger, nullable=nullable))


def _time(*, nullable: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


def _json(default: Any) -> Any:
    return Field(default_factory=default, sa_column=Column(JSON, nullable=False))


class RuleSetBase(DeferredModel):
    chat_id: int = _key()
    version: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    rules: dict[str, Any] = _json(dict)
    effective_at: datetime = _time()
    created_by: int | None = _bigint(nullable=True, default=None)
    note: str = Field(default="", max_length=256)


class RuleSet(RuleSetBase, table=True):
    """One version of a group's scoring rules; a change is a new version, never an edit."""

    __tablename__ = "engagement_rulesets"
    __table_args__ = (Index("ix_engagement_rulesets_chat_effective", "chat_id", "effective_at"),)


class RuleSetPublic(SQLModel):
    chat_id: int
    version: int
    rules: dict[str, Any]
    effective_at: datetime


class CampaignBase(DeferredModel):
    chat_id: int = _bigint()
    name: str = Field(max_length=64)


class Campaign(CampaignBase, table=True):
    """A named run of consecutive epochs in one group."""

    __tablename__ = "engagement_campaigns"
    __table_args__ = (UniqueConstraint("chat_id", "name", name="uq_engagement_campaigns_name"),)

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = _time()


class CampaignPublic(CampaignBase):
    id: int


class EpochBase(DeferredModel):
    chat_id: int = _bigint()
    number: int
    state: str = Field(default="open", max_length=16)
    starts_at: datetime = _time()
    ends_at: datetime | None = _time(nullable=True)


class Epoch(EpochBase, table=True):
    """A period whose points are allocated together: open, then closed, then published.

    `number` counts the group's epochs across campaigns; `rules` is the list of rule versions
    in force during the epoch, frozen when it closes.
    """

    __tablename__ = "engagement_epochs"
    __table_args__ = (
        UniqueConstraint("chat_id", "number", name="uq_engagement_epochs_number"),
        Index("ix_engagement_epochs_chat_state", "chat_id", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(
        sa_column=Column(Integer, ForeignKey("engagement_campaigns.id"), nullable=False)
    )
    closed_at: datetime | None = _time(nullable=True)
    published_at: datetime | None = _time(nullable=True)
    rules: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON))


class EpochPublic(EpochBase):
    id: int
    campaign_id: int


class LedgerEntryBase(DeferredModel):
    chat_id: int = _bigint()
    epoch_id: int = Field(
        sa_column=Column(Integer, ForeignKey("engagement_epochs.id"), nullable=False)
    )
    member_id: int = _bigint()
    kind: str = Field(max_length=16)
    rule: str = Field(max_length=32)
    points: int = 0
    rules_version: int = 0
    cause: str = Field(sa_column=Column(String(96), nullable=False))
    revision: int = 0
    update_id: int | None = _bigint(nullable=True, default=None)
    message_id: int | None = _bigint(nullable=True, default=None)
    actor_id: int | None = _bigint(nullable=True, default=None)
    event_id: str | None = Field(default=None, max_length=128)
    reason: str | None = Field(default=None, max_length=256)
    text_hash: int | None = _bigint(nullable=True, default=None)
    occurred_at: datetime = _time()


class LedgerEntry(LedgerEntryBase, table=True):
    """One row of the points ledger. `(chat_id, cause, revision)` is unique: crediting is
    idempotent across processes, and a correction of a cause is its next revision."""

    __tablename__ = "engagement_ledger"
    __table_args__ = (
        UniqueConstraint("chat_id", "cause", "revision", name="uq_engagement_ledger_cause"),
        Index("ix_engagement_ledger_epoch_member", "epoch_id", "member_id", "occurred_at"),
        Index("ix_engagement_ledger_chat_time", "chat_id", "occurred_at"),
    )

    id: int | None = Field(
        default=None, sa_column=Column(LEDGER_ID, primary_key=True, autoincrement=True)
    )
    created_at: datetime = _time()


class LedgerEntryPublic(LedgerEntryBase):
    id: int
    created_at: datetime


class ScoreBase(DeferredModel):
    epoch_id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    member_id: int = _key()
    chat_id: int = _bigint()
    points: int = _bigint()


class Score(ScoreBase, table=True):
    """The sum of a member's ledger rows in one epoch, kept in step with every entry."""

    __tablename__ = "engagement_scores"
    __table_args__ = (Index("ix_engagement_scores_rank", "epoch_id", "points", "member_id"),)


class ScorePublic(ScoreBase):
    pass


class MemberState(DeferredModel, table=True):
    """What scoring the next message of a member needs, read and locked in one statement.

    `recent` holds `[unix_seconds, text_hash]` of the member's messages of the last day that
    earned points or repeated one that had (see `engagement.scoring.MemberState`).
    """

    __tablename__ = "engagement_member_state"

    chat_id: int = _key()
    member_id: int = _key()
    latest_at: datetime | None = _time(nullable=True)
    latest_message_id: int = _bigint()
    last_credit_at: datetime | None = _time(nullable=True)
    day: int = 0
    day_count: int = 0
    day_points: int = 0
    recent: list[list[int]] = Field(
        default_factory=list, sa_column=Column(IntListsJSON(), nullable=False)
    )
    has_qualified: bool = False
    referrer_id: int | None = _bigint(nullable=True, default=None)
    joined_at: datetime | None = _time(nullable=True)
    invite_credited: bool = False


class InteractionTarget(DeferredModel, table=True):
    """Who replied to or reacted on one message: `actors` maps a member id to
    `[unix_seconds, points, epoch_id, revision]`, so the per-message cap can be kept exactly."""

    __tablename__ = "engagement_interactions"

    chat_id: int = _key()
    message_id: int = _key()
    kind: str = Field(sa_column=Column(String(16), primary_key=True))
    author_id: int = _bigint()
    actors: dict[str, list[int]] = _json(dict)


class FlagBase(DeferredModel):
    chat_id: int = _key()
    member_id: int = _key()
    code: str = Field(sa_column=Column(String(32), primary_key=True))
    detail: str = Field(default="", max_length=256)
    first_at: datetime = _time()
    last_at: datetime = _time()


class Flag(FlagBase, table=True):
    """A sybil signal raised against a member, with a reason code; managers review it."""

    __tablename__ = "engagement_flags"


class FlagPublic(FlagBase):
    pass


class StandingBase(DeferredModel):
    chat_id: int = _key()
    member_id: int = _key()
    status: str = Field(max_length=16)
    reason: str = Field(default="", max_length=256)
    decided_by: int | None = _bigint(nullable=True, default=None)
    decided_at: datetime = _time()


class Standing(StandingBase, table=True):
    """A manager's decision on a member: `excluded` (points kept, not allocated) or `cleared`."""

    __tablename__ = "engagement_standing"


class StandingPublic(StandingBase):
    pass


# Database-side rules, created with the tables (by the migration, and by `create_all`):
#
# * every row inserted into the ledger adds its points to `engagement_scores` (a trigger), so
#   the score cache cannot drift from the ledger, whoever writes it; another trigger keeps the
#   finer running totals of `core.models_totals` the same way;
# * `engagement_intake` is a view that takes a message's ledger entry together with the
#   member's new scorer state, so the hot path writes both in one statement.
INTAKE_ENTRY = (
    "chat_id",
    "epoch_id",
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
INTAKE_STATE = (
    "latest_at",
    "latest_message_id",
    "last_credit_at",
    "day",
    "day_count",
    "day_points",
    "recent",
    "has_qualified",
    "invite_credited",
)


# A row's points go to its member's score in its epoch (the ledger's and the score's key).
_SCORE_ADD = (
    " ON CONFLICT (epoch_id, member_id)"
    " DO UPDATE SET points = engagement_scores.points + excluded.points;"
)


def score_ddl(dialect: str) -> list[str]:
    """The trigger that adds every ledger insert to `engagement_scores`, idempotent.

    On PostgreSQL it runs once per statement over the statement's rows, summed per score row
    (a statement may hold several rows of one member, and an upsert touches a row only once),
    in key order, so concurrent writers lock score rows in the same order.
    """
    if dialect == "postgresql":
        return [
            "CREATE OR REPLACE FUNCTION engagement_ledger_score() RETURNS trigger"
            " LANGUAGE plpgsql AS $$ BEGIN"
            " INSERT INTO engagement_scores (epoch_id, member_id, chat_id, points)"
            f" SELECT epoch_id, member_id, min(chat_id), sum(points) FROM {INSERTED}"
            " WHERE points <> 0 GROUP BY epoch_id, member_id ORDER BY epoch_id, member_id"
            f"{_SCORE_ADD} RETURN NULL; END $$",
            "CREATE OR REPLACE TRIGGER engagement_ledger_score AFTER INSERT ON engagement_ledger"
            f" REFERENCING NEW TABLE AS {INSERTED}"
            " FOR EACH STATEMENT EXECUTE FUNCTION engagement_ledger_score()",
        ]
    return [
        "CREATE TRIGGER IF NOT EXISTS engagement_ledger_score AFTER INSERT ON engagement_ledger"
        " WHEN NEW.points <> 0 BEGIN"
        " INSERT INTO engagement_scores (epoch_id, member_id, chat_id, points)"
        f" VALUES (NEW.epoch_id, NEW.member_id, NEW.chat_id, NEW.points){_SCORE_ADD} END"
    ]


def intake_ddl(dialect: str) -> list[str]:
    """The intake view and its INSTEAD OF trigger, idempotent."""
    entry = ", ".join(INTAKE_ENTRY)
    new_entry = ", ".join(f"NEW.{c}" for c in INTAKE_ENTRY)
    new_state = ", ".join(f"{c} = NEW.{c}" for c in INTAKE_STATE)
    view_columns = ", ".join([*(f"l.{c}" for c in INTAKE_ENTRY), *(f"s.{c}" for c in INTAKE_STATE)])
    intake = (
        f"INSERT INTO engagement_ledger ({entry}) VALUES ({new_entry})"
        " ON CONFLICT (chat_id, cause, revision) DO NOTHING;"
        f" UPDATE engagement_member_state SET {new_state}"
        " WHERE chat_id = NEW.chat_id AND member_id = NEW.member_id;"
    )
    if dialect == "postgresql":
        return [
            f"CREATE OR REPLACE VIEW engagement_intake AS SELECT {view_columns}"
            " FROM engagement_ledger l JOIN engagement_member_state s ON false",
            "CREATE OR REPLACE FUNCTION engagement_intake_insert() RETURNS trigger"
            f" LANGUAGE plpgsql AS $$ BEGIN {intake} RETURN NEW; END $$",
            "CREATE OR REPLACE TRIGGER engagement_intake_insert INSTEAD OF INSERT"
            " ON engagement_intake FOR EACH ROW EXECUTE FUNCTION engagement_intake_insert()",
        ]
    return [
        f"CREATE VIEW IF NOT EXISTS engagement_intake AS SELECT {view_columns}"
        " FROM engagement_ledger l JOIN engagement_member_state s ON 0",
        "CREATE TRIGGER IF NOT EXISTS engagement_intake_insert INSTEAD OF INSERT"
        f" ON engagement_intake BEGIN {intake} END",
    ]


def engagement_ddl(dialect: str) -> list[str]:
    """The trigger and view statements for `dialect` (`sqlite` or `postgresql`), idempotent."""
    return [*score_ddl(dialect), *intake_ddl(dialect)]


def engagement_drop_ddl(dialect: str) -> list[str]:
    """Undoes `engagement_ddl` (before the tables go)."""
    drops = ["DROP VIEW IF EXISTS engagement_intake"]
    if dialect == "postgresql":
        drops += [
            "DROP TRIGGER IF EXISTS engagement_ledger_score ON engagement_ledger",
            "DROP FUNCTION IF EXISTS engagement_intake_insert()",
            "DROP FUNCTION IF EXISTS engagement_ledger_score()",
        ]
    else:
        drops.append("DROP TRIGGER IF EXISTS engagement_ledger_score")
    return drops


def _concerns_us(tables: Any) -> bool:
    return tables is None or any(t.name == LedgerEntry.__tablename__ for t in tables)


@event.listens_for(SQLModel.metadata, "after_create")
def _create_rules(target: Any, connection: Any, tables: Any = None, **_: Any) -> None:
    if _concerns_us(tables):
        dialect = connection.dialect.name
        for statement in [*engagement_ddl(dialect), *totals_ddl(dialect)]:
            connection.exec_driver_sql(statement)


@event.listens_for(SQLModel.metadata, "before_drop")
def _drop_rules(target: Any, connection: Any, tables: Any = None, **_: Any) -> None:
    if _concerns_us(tables):
        dialect = connection.dialect.name
        for statement in [*totals_drop_ddl(dialect), *engagement_drop_ddl(dialect)]:
            connection.exec_driver_sql(statement)
