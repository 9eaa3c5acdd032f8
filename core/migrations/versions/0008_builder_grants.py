"""Builder platform: apps' page URLs; apps enabled per group with a points cap; consents.

Revision ID: 0008
Revises: 0006
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column(
        "miniapp_apps",
        sa.Column("url", sa.String(length=512), nullable=False, server_default=""),
    )
    op.create_table(
        "miniapp_group_apps",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("app_id", sa.String(length=32), nullable=False),
        sa.Column("cap", sa.Integer(), nullable=False),
        sa.Column("enabled_by", sa.BigInteger(), nullable=True),
        sa.Column("enabled_at", UTC, nullable=False),
        sa.Column("disabled_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(["app_id"], ["miniapp_apps.id"]),
        sa.ForeignKeyConstraint(["chat_id"], ["chats.id"]),
        sa.PrimaryKeyConstraint("chat_id", "app_id"),
    )
    op.create_table(
        "miniapp_consents",
        sa.Column("member_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("app_id", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("granted_at", UTC, nullable=False),
        sa.Column("revoked_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(["app_id"], ["miniapp_apps.id"]),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"]),
        sa.PrimaryKeyConstraint("member_id", "app_id", "scope"),
    )


def downgrade() -> None:
    op.drop_table("miniapp_consents")
    op.drop_table("miniapp_group_apps")
    with op.batch_alter_table("miniapp_apps") as batch:
        batch.drop_column("url")
