"""The ledger loses the points page's covering index: the page reads the running totals.

`ix_engagement_ledger_member_sums` (0009) let the points page sum a member's ledger rows from
the index alone. Since 0010 the page reads `engagement_member_totals` instead, and nothing else
needs nine columns in an index that every ledger insert has to maintain.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_engagement_ledger_member_sums"
COLUMNS = ["epoch_id", "member_id", "kind", "rule", "points", "chat_id", "cause", "revision", "id"]


def upgrade() -> None:
    op.drop_index(INDEX, table_name="engagement_ledger")


def downgrade() -> None:
    op.create_index(INDEX, "engagement_ledger", COLUMNS)
