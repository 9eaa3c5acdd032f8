"""Wallet linking: links, one-time link tokens, sign-in challenges, audit log.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = sa.DateTime(timezone=True)
ACTIVE = sa.text("unlinked_at IS NULL")
ACTIVE_PRIMARY = sa.text("is_primary AND unlinked_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "wallet_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chain_family", sa.String(length=8), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("chain_id", sa.String(length=32), nullable=False),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("linked_at", UTC, nullable=False),
        sa.Column("unlinked_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_wallet_links_member_id", "wallet_links", ["member_id"])
    op.create_index(
        "uq_wallet_links_active_address",
        "wallet_links",
        ["chain_family", "address"],
        unique=True,
        sqlite_where=ACTIVE,
        postgresql_where=ACTIVE,
    )
    op.create_index(
        "uq_wallet_links_active_primary",
        "wallet_links",
        ["member_id", "chain_family"],
        unique=True,
        sqlite_where=ACTIVE_PRIMARY,
        postgresql_where=ACTIVE_PRIMARY,
    )
    op.create_table(
        "wallet_link_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("chain_family", sa.String(length=8), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("expires_at", UTC, nullable=False),
        sa.Column("used_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_wallet_link_tokens_member_id", "wallet_link_tokens", ["member_id"])
    op.create_index("uq_wallet_link_tokens_hash", "wallet_link_tokens", ["token_hash"], unique=True)
    op.create_table(
        "wallet_challenges",
        sa.Column("nonce", sa.String(length=32), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("chain_family", sa.String(length=8), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("expires_at", UTC, nullable=False),
        sa.Column("used_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(["token_id"], ["wallet_link_tokens.id"]),
        sa.PrimaryKeyConstraint("nonce"),
    )
    op.create_index("ix_wallet_challenges_token_id", "wallet_challenges", ["token_id"])
    op.create_table(
        "wallet_audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("other_member_id", sa.BigInteger(), nullable=True),
        sa.Column("chain_family", sa.String(length=8), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_wallet_audit_log_member_id", "wallet_audit_log", ["member_id"])
    op.create_index(
        "ix_wallet_audit_log_event_created", "wallet_audit_log", ["event", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_wallet_audit_log_event_created", table_name="wallet_audit_log")
    op.drop_index("ix_wallet_audit_log_member_id", table_name="wallet_audit_log")
    op.drop_table("wallet_audit_log")
    op.drop_index("ix_wallet_challenges_token_id", table_name="wallet_challenges")
    op.drop_table("wallet_challenges")
    op.drop_index("uq_wallet_link_tokens_hash", table_name="wallet_link_tokens")
    op.drop_index("ix_wallet_link_tokens_member_id", table_name="wallet_link_tokens")
    op.drop_table("wallet_link_tokens")
    op.drop_index("uq_wallet_links_active_primary", table_name="wallet_links")
    op.drop_index("uq_wallet_links_active_address", table_name="wallet_links")
    op.drop_index("ix_wallet_links_member_id", table_name="wallet_links")
    op.drop_table("wallet_links")
