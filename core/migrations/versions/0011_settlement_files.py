"""Settlement files: large artefacts on disk, and claim rows found by account without an index.

`claims_artefacts.path` names a file under the data directory that holds the artefact (dumps and
claims files of a million claims). The unique index on `claims_rows(settlement_id, chain,
account)` goes: lookups by account use each tree's `accounts.bin` artefact instead, and
inserting a million random accounts into the index cost more than the rest of a settlement.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("uq_claims_rows_account", table_name="claims_rows")
    with op.batch_alter_table("claims_artefacts") as batch:
        batch.add_column(sa.Column("path", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("claims_artefacts") as batch:
        batch.drop_column("path")
    op.create_index(
        "uq_claims_rows_account", "claims_rows", ["settlement_id", "chain", "account"], unique=True
    )
