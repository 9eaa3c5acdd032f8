"""Engagement: rule versions, campaigns and epochs, the points ledger, scores, review.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = sa.DateTime(timezone=True)
LEDGER_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Snapshot of `core.models_engagement.engagement_ddl` as of this revision: the score trigger
# (the cache follows every ledger insert) and the intake view (entry + scorer state in one
# statement).
ENTRY = "chat_id, epoch_id, member_id, kind, rule, points, rules_version, cause, revision, update_id, message_id, actor_id, event_id, reason, text_hash, occurred_at, created_at"
NEW_ENTRY = "NEW.chat_id, NEW.epoch_id, NEW.member_id, NEW.kind, NEW.rule, NEW.points, NEW.rules_version, NEW.cause, NEW.revision, NEW.update_id, NEW.message_id, NEW.actor_id, NEW.event_id, NEW.reason, NEW.text_hash, NEW.occurred_at, NEW.created_at"
SET_STATE = "latest_at = NEW.latest_at, latest_message_id = NEW.latest_message_id, last_credit_at = NEW.last_credit_at, day = NEW.day, day_count = NEW.day_count, day_points = NEW.day_points, recent = NEW.recent, has_qualified = NEW.has_qualified, invite_credited = NEW.invite_credited"
VIEW_COLUMNS = "l.chat_id, l.epoch_id, l.member_id, l.kind, l.rule, l.points, l.rules_version, l.cause, l.revision, l.update_id, l.message_id, l.actor_id, l.event_id, l.reason, l.text_hash, l.occurred_at, l.created_at, s.latest_at, s.latest_message_id, s.last_credit_at, s.day, s.day_count, s.day_points, s.recent, s.has_qualified, s.invite_credited"
SCORE = (
    "INSERT INTO engagement_scores (epoch_id, member_id, chat_id, points)"
    " VALUES (NEW.epoch_id, NEW.member_id, NEW.chat_id, NEW.points)"
    " ON CONFLICT (epoch_id, member_id)"
    " DO UPDATE SET points = engagement_scores.points + excluded.points;"
)
INTAKE = (
    f"INSERT INTO engagement_ledger ({ENTRY}) VALUES ({NEW_ENTRY})"
    " ON CONFLICT (chat_id, cause, revision) DO NOTHING;"
    f" UPDATE engagement_member_state SET {SET_STATE}"
    " WHERE chat_id = NEW.chat_id AND member_id = NEW.member_id;"
)
RULES = {
    "sqlite": [
        "CREATE TRIGGER IF NOT EXISTS engagement_ledger_score AFTER INSERT ON engagement_ledger"
        f" WHEN NEW.points <> 0 BEGIN {SCORE} END",
        f"CREATE VIEW IF NOT EXISTS engagement_intake AS SELECT {VIEW_COLUMNS}"
        " FROM engagement_ledger l JOIN engagement_member_state s ON 0",
        "CREATE TRIGGER IF NOT EXISTS engagement_intake_insert INSTEAD OF INSERT"
        f" ON engagement_intake BEGIN {INTAKE} END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION engagement_ledger_score() RETURNS trigger"
        f" LANGUAGE plpgsql AS $$ BEGIN IF NEW.points <> 0 THEN {SCORE} END IF;"
        " RETURN NULL; END $$",
        "CREATE OR REPLACE TRIGGER engagement_ledger_score AFTER INSERT ON engagement_ledger"
        " FOR EACH ROW EXECUTE FUNCTION engagement_ledger_score()",
        f"CREATE OR REPLACE VIEW engagement_intake AS SELECT {VIEW_COLUMNS} FROM engagement_ledger l"
        " JOIN engagement_member_state s ON false",
        "CREATE OR REPLACE FUNCTION engagement_intake_insert() RETURNS trigger"
        f" LANGUAGE plpgsql AS $$ BEGIN {INTAKE} RETURN NEW; END $$",
        "CREATE OR REPLACE TRIGGER engagement_intake_insert INSTEAD OF INSERT"
        " ON engagement_intake FOR EACH ROW EXECUTE FUNCTION engagement_intake_insert()",
    ],
}
DROP = {
    "sqlite": [
        "DROP VIEW IF EXISTS engagement_intake",
        "DROP TRIGGER IF EXISTS engagement_ledger_score",
    ],
    "postgresql": [
        "DROP VIEW IF EXISTS engagement_intake",
        "DROP TRIGGER IF EXISTS engagement_ledger_score ON engagement_ledger",
        "DROP FUNCTION IF EXISTS engagement_intake_insert()",
        "DROP FUNCTION IF EXISTS engagement_ledger_score()",
    ],
}


def upgrade() -> None:
    op.create_table(
        "engagement_rulesets",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("effective_at", UTC, nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("note", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("chat_id", "version"),
    )
    op.create_index(
        "ix_engagement_rulesets_chat_effective",
        "engagement_rulesets",
        ["chat_id", "effective_at"],
    )
    op.create_table(
        "engagement_campaigns",
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chat_id", "name", name="uq_engagement_campaigns_name"),
    )
    op.create_table(
        "engagement_epochs",
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("starts_at", UTC, nullable=False),
        sa.Column("ends_at", UTC, nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("closed_at", UTC, nullable=True),
        sa.Column("published_at", UTC, nullable=True),
        sa.Column("rules", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["campaign_id"], ["engagement_campaigns.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chat_id", "number", name="uq_engagement_epochs_number"),
    )
    op.create_index("ix_engagement_epochs_chat_state", "engagement_epochs", ["chat_id", "state"])
    op.create_table(
        "engagement_ledger",
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("epoch_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("rules_version", sa.Integer(), nullable=False),
        sa.Column("cause", sa.String(length=96), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("update_id", sa.BigInteger(), nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("event_id", sa.String(length=128), nullable=True),
        sa.Column("reason", sa.String(length=256), nullable=True),
        sa.Column("text_hash", sa.BigInteger(), nullable=True),
        sa.Column("occurred_at", UTC, nullable=False),
        sa.Column("id", LEDGER_ID, autoincrement=True, nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["epoch_id"], ["engagement_epochs.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chat_id", "cause", "revision", name="uq_engagement_ledger_cause"),
    )
    op.create_index(
        "ix_engagement_ledger_epoch_member",
        "engagement_ledger",
        ["epoch_id", "member_id", "occurred_at"],
    )
    op.create_index(
        "ix_engagement_ledger_chat_time", "engagement_ledger", ["chat_id", "occurred_at"]
    )
    op.create_table(
        "engagement_scores",
        sa.Column("epoch_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("member_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("epoch_id", "member_id"),
    )
    op.create_index(
        "ix_engagement_scores_rank", "engagement_scores", ["epoch_id", "points", "member_id"]
    )
    op.create_table(
        "engagement_member_state",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("member_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("latest_at", UTC, nullable=True),
        sa.Column("latest_message_id", sa.BigInteger(), nullable=False),
        sa.Column("last_credit_at", UTC, nullable=True),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("day_count", sa.Integer(), nullable=False),
        sa.Column("day_points", sa.Integer(), nullable=False),
        sa.Column("recent", sa.JSON(), nullable=False),
        sa.Column("has_qualified", sa.Boolean(), nullable=False),
        sa.Column("referrer_id", sa.BigInteger(), nullable=True),
        sa.Column("joined_at", UTC, nullable=True),
        sa.Column("invite_credited", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("chat_id", "member_id"),
    )
    op.create_table(
        "engagement_interactions",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("message_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=False),
        sa.Column("actors", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("chat_id", "message_id", "kind"),
    )
    op.create_table(
        "engagement_flags",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("member_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=256), nullable=False),
        sa.Column("first_at", UTC, nullable=False),
        sa.Column("last_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("chat_id", "member_id", "code"),
    )
    op.create_table(
        "engagement_standing",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("member_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=256), nullable=False),
        sa.Column("decided_by", sa.BigInteger(), nullable=True),
        sa.Column("decided_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("chat_id", "member_id"),
    )
    for statement in RULES[op.get_bind().dialect.name]:
        op.execute(statement)


def downgrade() -> None:
    for statement in DROP[op.get_bind().dialect.name]:
        op.execute(statement)
    op.drop_table("engagement_standing")
    op.drop_table("engagement_flags")
    op.drop_table("engagement_interactions")
    op.drop_table("engagement_member_state")
    op.drop_index("ix_engagement_scores_rank", table_name="engagement_scores")
    op.drop_table("engagement_scores")
    op.drop_index("ix_engagement_ledger_chat_time", table_name="engagement_ledger")
    op.drop_index("ix_engagement_ledger_epoch_member", table_name="engagement_ledger")
    op.drop_table("engagement_ledger")
    op.drop_index("ix_engagement_epochs_chat_state", table_name="engagement_epochs")
    op.drop_table("engagement_epochs")
    op.drop_table("engagement_campaigns")
    op.drop_index("ix_engagement_rulesets_chat_effective", table_name="engagement_rulesets")
    op.drop_table("engagement_rulesets")
