"""Points page: a covering index for summing one member's ledger rows in an epoch.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ["epoch_id", "member_id", "kind", "rule", "points", "chat_id", "cause", "revision", "id"]


def upgrade() -> None:
    op.create_index("ix_engagement_ledger_member_sums", "engagement_ledger", COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_engagement_ledger_member_sums", table_name="engagement_ledger")
