"""Running totals of the ledger per member, epoch, kind and rule, for the points page.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Snapshot of `core.models_totals` as of this revision: the trigger that keeps the totals with
# every ledger insert, and the statements that fill them from the ledger already written.
RULES = {
    'sqlite': [
        (
            'CREATE TRIGGER IF NOT EXISTS engagement_ledger_totals AFTER INSERT ON engagement_ledger '
            'BEGIN INSERT INTO engagement_member_totals (epoch_id, member_id, kind, rule, app_id, '
            'chat_id, points, entries, counted, not_counted) VALUES (NEW.epoch_id, NEW.member_id, '
            "NEW.kind, NEW.rule, CASE WHEN NEW.kind = 'app' THEN substr(NEW.cause, 5, "
            "instr(substr(NEW.cause, 5) || ':', ':') - 1) ELSE '' END, NEW.chat_id, NEW.points, 1, 0,"
            ' 0) ON CONFLICT (epoch_id, member_id, kind, rule, app_id) DO UPDATE SET points = '
            'engagement_member_totals.points + excluded.points, entries = '
            'engagement_member_totals.entries + 1, counted = engagement_member_totals.counted + '
            'excluded.counted, not_counted = engagement_member_totals.not_counted + '
            'excluded.not_counted; UPDATE engagement_member_totals SET counted = '
            'engagement_member_totals.counted - CASE WHEN v.net > 0 THEN 1 ELSE 0 END, not_counted = '
            'engagement_member_totals.not_counted - CASE WHEN v.net > 0 THEN 0 ELSE 1 END FROM '
            '(SELECT f.rule AS final_rule, a.net AS net, a.rev AS rev FROM (SELECT sum(points) AS '
            'net, max(revision) AS rev FROM engagement_ledger WHERE chat_id = NEW.chat_id AND cause ='
            ' NEW.cause AND +epoch_id = NEW.epoch_id AND +member_id = NEW.member_id AND +kind = '
            "'message' AND revision <> NEW.revision) a JOIN engagement_ledger f ON f.chat_id = "
            "NEW.chat_id AND f.cause = NEW.cause AND f.revision = a.rev) v WHERE NEW.kind = 'message'"
            ' AND engagement_member_totals.epoch_id = NEW.epoch_id AND '
            'engagement_member_totals.member_id = NEW.member_id AND engagement_member_totals.kind = '
            "'message' AND engagement_member_totals.rule = v.final_rule AND "
            "engagement_member_totals.app_id = ''; UPDATE engagement_member_totals SET counted = "
            'engagement_member_totals.counted + CASE WHEN v.net > 0 THEN 1 ELSE 0 END, not_counted = '
            'engagement_member_totals.not_counted + CASE WHEN v.net > 0 THEN 0 ELSE 1 END FROM '
            '(SELECT f.rule AS final_rule, a.net AS net, a.rev AS rev FROM (SELECT sum(points) AS '
            'net, max(revision) AS rev FROM engagement_ledger WHERE chat_id = NEW.chat_id AND cause ='
            ' NEW.cause AND +epoch_id = NEW.epoch_id AND +member_id = NEW.member_id AND +kind = '
            "'message') a JOIN engagement_ledger f ON f.chat_id = NEW.chat_id AND f.cause = NEW.cause"
            " AND f.revision = a.rev) v WHERE NEW.kind = 'message' AND "
            'engagement_member_totals.epoch_id = NEW.epoch_id AND engagement_member_totals.member_id '
            "= NEW.member_id AND engagement_member_totals.kind = 'message' AND "
            "engagement_member_totals.rule = v.final_rule AND engagement_member_totals.app_id = ''; "
            'END'
        ),
    ],
    'postgresql': [
        (
            'CREATE OR REPLACE FUNCTION engagement_ledger_totals() RETURNS trigger LANGUAGE plpgsql '
            'AS $$ DECLARE prior_rule text; prior_net bigint; prior_rev integer; BEGIN IF NEW.kind = '
            "'message' THEN SELECT p.final_rule, p.net, p.rev INTO prior_rule, prior_net, prior_rev "
            'FROM (SELECT f.rule AS final_rule, a.net AS net, a.rev AS rev FROM (SELECT sum(points) '
            'AS net, max(revision) AS rev FROM engagement_ledger WHERE chat_id = NEW.chat_id AND '
            'cause = NEW.cause AND epoch_id = NEW.epoch_id AND member_id = NEW.member_id AND kind = '
            "'message' AND revision <> NEW.revision) a JOIN engagement_ledger f ON f.chat_id = "
            'NEW.chat_id AND f.cause = NEW.cause AND f.revision = a.rev) p; END IF; INSERT INTO '
            'engagement_member_totals (epoch_id, member_id, kind, rule, app_id, chat_id, points, '
            'entries, counted, not_counted) VALUES (NEW.epoch_id, NEW.member_id, NEW.kind, NEW.rule, '
            "CASE WHEN NEW.kind = 'app' THEN split_part(NEW.cause, ':', 2) ELSE '' END, NEW.chat_id, "
            "NEW.points, 1, CASE WHEN NEW.kind = 'message' AND prior_rule IS NULL AND NEW.points > 0 "
            "THEN 1 ELSE 0 END, CASE WHEN NEW.kind = 'message' AND prior_rule IS NULL AND NEW.points "
            '<= 0 THEN 1 ELSE 0 END) ON CONFLICT (epoch_id, member_id, kind, rule, app_id) DO UPDATE '
            'SET points = engagement_member_totals.points + excluded.points, entries = '
            'engagement_member_totals.entries + 1, counted = engagement_member_totals.counted + '
            'excluded.counted, not_counted = engagement_member_totals.not_counted + '
            'excluded.not_counted; IF prior_rule IS NOT NULL THEN UPDATE engagement_member_totals SET'
            ' counted = engagement_member_totals.counted - CASE WHEN prior_net > 0 THEN 1 ELSE 0 END,'
            ' not_counted = engagement_member_totals.not_counted - CASE WHEN prior_net > 0 THEN 0 '
            'ELSE 1 END WHERE engagement_member_totals.epoch_id = NEW.epoch_id AND '
            'engagement_member_totals.member_id = NEW.member_id AND engagement_member_totals.kind = '
            "'message' AND engagement_member_totals.rule = prior_rule AND "
            "engagement_member_totals.app_id = ''; UPDATE engagement_member_totals SET counted = "
            'engagement_member_totals.counted + CASE WHEN prior_net + NEW.points > 0 THEN 1 ELSE 0 '
            'END, not_counted = engagement_member_totals.not_counted + CASE WHEN prior_net + '
            'NEW.points > 0 THEN 0 ELSE 1 END WHERE engagement_member_totals.epoch_id = NEW.epoch_id '
            'AND engagement_member_totals.member_id = NEW.member_id AND engagement_member_totals.kind'
            " = 'message' AND engagement_member_totals.rule = CASE WHEN NEW.revision > prior_rev THEN"
            " NEW.rule ELSE prior_rule END AND engagement_member_totals.app_id = ''; END IF; RETURN "
            'NULL; END $$'
        ),
        (
            'CREATE OR REPLACE TRIGGER engagement_ledger_totals AFTER INSERT ON engagement_ledger FOR'
            ' EACH ROW EXECUTE FUNCTION engagement_ledger_totals()'
        ),
    ],
}
DROP = {
    'sqlite': [
        (
            'DROP TRIGGER IF EXISTS engagement_ledger_totals'
        ),
    ],
    'postgresql': [
        (
            'DROP TRIGGER IF EXISTS engagement_ledger_totals ON engagement_ledger'
        ),
        (
            'DROP FUNCTION IF EXISTS engagement_ledger_totals()'
        ),
    ],
}
BACKFILL = {
    'sqlite': [
        (
            'INSERT INTO engagement_member_totals (epoch_id, member_id, kind, rule, app_id, chat_id, '
            'points, entries, counted, not_counted) SELECT epoch_id, member_id, kind, rule, app_id, '
            'min(chat_id), sum(points), count(*), 0, 0 FROM (SELECT epoch_id, member_id, kind, rule, '
            "CASE WHEN kind = 'app' THEN substr(cause, 5, instr(substr(cause, 5) || ':', ':') - 1) "
            "ELSE '' END AS app_id, chat_id, points FROM engagement_ledger) l GROUP BY epoch_id, "
            'member_id, kind, rule, app_id'
        ),
        (
            'UPDATE engagement_member_totals SET counted = v.counted, not_counted = v.not_counted '
            'FROM (SELECT m.epoch_id, m.member_id, f.rule AS final_rule, sum(CASE WHEN m.net > 0 THEN'
            ' 1 ELSE 0 END) AS counted, sum(CASE WHEN m.net > 0 THEN 0 ELSE 1 END) AS not_counted '
            'FROM (SELECT epoch_id, member_id, chat_id, cause, sum(points) AS net, max(revision) AS '
            "rev FROM engagement_ledger WHERE kind = 'message' GROUP BY epoch_id, member_id, chat_id,"
            ' cause) m JOIN engagement_ledger f ON f.chat_id = m.chat_id AND f.cause = m.cause AND '
            'f.revision = m.rev GROUP BY m.epoch_id, m.member_id, f.rule) v WHERE '
            'engagement_member_totals.epoch_id = v.epoch_id AND engagement_member_totals.member_id = '
            "v.member_id AND engagement_member_totals.kind = 'message' AND "
            "engagement_member_totals.rule = v.final_rule AND engagement_member_totals.app_id = ''"
        ),
    ],
    'postgresql': [
        (
            'INSERT INTO engagement_member_totals (epoch_id, member_id, kind, rule, app_id, chat_id, '
            'points, entries, counted, not_counted) SELECT epoch_id, member_id, kind, rule, app_id, '
            'min(chat_id), sum(points), count(*), 0, 0 FROM (SELECT epoch_id, member_id, kind, rule, '
            "CASE WHEN kind = 'app' THEN split_part(cause, ':', 2) ELSE '' END AS app_id, chat_id, "
            'points FROM engagement_ledger) l GROUP BY epoch_id, member_id, kind, rule, app_id'
        ),
        (
            'UPDATE engagement_member_totals SET counted = v.counted, not_counted = v.not_counted '
            'FROM (SELECT m.epoch_id, m.member_id, f.rule AS final_rule, sum(CASE WHEN m.net > 0 THEN'
            ' 1 ELSE 0 END) AS counted, sum(CASE WHEN m.net > 0 THEN 0 ELSE 1 END) AS not_counted '
            'FROM (SELECT epoch_id, member_id, chat_id, cause, sum(points) AS net, max(revision) AS '
            "rev FROM engagement_ledger WHERE kind = 'message' GROUP BY epoch_id, member_id, chat_id,"
            ' cause) m JOIN engagement_ledger f ON f.chat_id = m.chat_id AND f.cause = m.cause AND '
            'f.revision = m.rev GROUP BY m.epoch_id, m.member_id, f.rule) v WHERE '
            'engagement_member_totals.epoch_id = v.epoch_id AND engagement_member_totals.member_id = '
            "v.member_id AND engagement_member_totals.kind = 'message' AND "
            "engagement_member_totals.rule = v.final_rule AND engagement_member_totals.app_id = ''"
        ),
    ],
}


def upgrade() -> None:
    op.create_table(
        "engagement_member_totals",
        sa.Column("epoch_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("member_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("app_id", sa.String(length=64), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("entries", sa.BigInteger(), nullable=False),
        sa.Column("counted", sa.BigInteger(), nullable=False),
        sa.Column("not_counted", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("epoch_id", "member_id", "kind", "rule", "app_id"),
    )
    dialect = op.get_bind().dialect.name
    # Filled before the trigger exists: the ledger cannot be written during a migration.
    for statement in [*BACKFILL[dialect], *RULES[dialect]]:
        op.execute(statement)


def downgrade() -> None:
    for statement in DROP[op.get_bind().dialect.name]:
        op.execute(statement)
    op.drop_table("engagement_member_totals")
