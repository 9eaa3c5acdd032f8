"""Token claims: epoch settlements, claim rows, published artefacts, claims.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = sa.DateTime(timezone=True)


def _settlement_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["settlement_id"], ["claims_settlements.id"], ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "claims_settlements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("epoch_number", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("pool", sa.String(length=80), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("ledger_digest", sa.String(length=80), nullable=False),
        sa.Column("evm_root", sa.String(length=66), nullable=True),
        sa.Column("solana_root", sa.String(length=66), nullable=True),
        sa.Column("held_back", sa.String(length=80), nullable=False),
        sa.Column("distributor", sa.String(length=64), nullable=True),
        sa.Column("chain_id", sa.String(length=32), nullable=True),
        sa.Column("deadline", UTC, nullable=True),
        sa.Column("treasury", sa.String(length=64), nullable=True),
        sa.Column("mint", sa.String(length=64), nullable=True),
        sa.Column("allowance", sa.String(length=80), nullable=True),
        sa.Column("epoch_id", sa.Integer(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("unlinked", sa.JSON(), nullable=False),
        sa.Column("closed_at", UTC, nullable=False),
        sa.Column("published_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(["epoch_id"], ["engagement_epochs.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("epoch_id", name="uq_claims_settlements_epoch"),
    )
    op.create_index(
        "ix_claims_settlements_chat_number",
        "claims_settlements",
        ["chat_id", "epoch_number"],
        unique=True,
    )
    op.create_table(
        "claims_rows",
        sa.Column("settlement_id", sa.Integer(), nullable=False),
        sa.Column("chain", sa.String(length=8), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.String(length=80), nullable=False),
        sa.Column("tree_index", sa.Integer(), nullable=False),
        _settlement_fk(),
        sa.PrimaryKeyConstraint("settlement_id", "chain", "index"),
    )
    op.create_index(
        "uq_claims_rows_account", "claims_rows", ["settlement_id", "chain", "account"], unique=True
    )
    op.create_index("ix_claims_rows_member", "claims_rows", ["settlement_id", "member_id"])
    op.create_table(
        "claims_artefacts",
        sa.Column("settlement_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("media_type", sa.String(length=64), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        _settlement_fk(),
        sa.PrimaryKeyConstraint("settlement_id", "name"),
    )
    op.create_table(
        "claims_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("settlement_id", sa.Integer(), nullable=False),
        sa.Column("epoch_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("chain", sa.String(length=8), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("tx_hash", sa.String(length=128), nullable=True),
        sa.Column("tx", sa.Text(), nullable=True),
        sa.Column("blockhash", sa.String(length=64), nullable=True),
        sa.Column("last_valid_height", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("confirmed_at", UTC, nullable=True),
        _settlement_fk(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("epoch_id", "member_id", "chain", name="uq_claims_claims_member"),
    )


def downgrade() -> None:
    op.drop_table("claims_claims")
    op.drop_table("claims_artefacts")
    op.drop_index("ix_claims_rows_member", table_name="claims_rows")
    op.drop_index("uq_claims_rows_account", table_name="claims_rows")
    op.drop_table("claims_rows")
    op.drop_index("ix_claims_settlements_chat_number", table_name="claims_settlements")
    op.drop_table("claims_settlements")
