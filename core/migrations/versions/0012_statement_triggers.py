"""The ledger's triggers do a batch's work per statement where they can, and skip a correction's
work for rows that correct nothing.

On PostgreSQL the score and totals triggers run once per statement over its new rows (a
transition table): one grouped upsert each, and only a message's rows that have other revisions
of their cause run the per-row move between decisions. On SQLite the totals trigger splits in
two by a WHEN clause, so that only such rows run the two correction UPDATEs.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Snapshot of `core.models_engagement.score_ddl` (PostgreSQL; SQLite's score trigger stays as
# it was) and of `core.models_totals.totals_ddl` and `totals_drop_ddl` as of this revision.
SCORE = {
    'postgresql': [
        (
            'CREATE OR REPLACE FUNCTION engagement_ledger_score() RETURNS trigger LANGUAGE plpgsql AS'
            ' $$ BEGIN INSERT INTO engagement_scores (epoch_id, member_id, chat_id, points) SELECT'
            ' epoch_id, member_id, min(chat_id), sum(points) FROM inserted WHERE points <> 0 GROUP BY'
            ' epoch_id, member_id ORDER BY epoch_id, member_id ON CONFLICT (epoch_id, member_id) DO'
            ' UPDATE SET points = engagement_scores.points + excluded.points; RETURN NULL; END $$'
        ),
        (
            'CREATE OR REPLACE TRIGGER engagement_ledger_score AFTER INSERT ON engagement_ledger'
            ' REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION'
            ' engagement_ledger_score()'
        ),
    ],
}
TOTALS = {
    'sqlite': [
        (
            'CREATE TRIGGER IF NOT EXISTS engagement_ledger_totals AFTER INSERT ON engagement_ledger'
            " WHEN NOT (NEW.kind = 'message' AND EXISTS (SELECT 1 FROM engagement_ledger WHERE chat_id"
            ' = NEW.chat_id AND cause = NEW.cause AND revision <> NEW.revision AND +epoch_id ='
            " NEW.epoch_id AND +member_id = NEW.member_id AND +kind = 'message')) BEGIN INSERT INTO"
            ' engagement_member_totals (epoch_id, member_id, kind, rule, app_id, chat_id, points,'
            ' entries, counted, not_counted) VALUES (NEW.epoch_id, NEW.member_id, NEW.kind, NEW.rule,'
            " CASE WHEN NEW.kind = 'app' THEN substr(NEW.cause, 5, instr(substr(NEW.cause, 5) || ':',"
            " ':') - 1) ELSE '' END, NEW.chat_id, NEW.points, 1, CASE WHEN NEW.kind = 'message' AND"
            " NEW.points > 0 THEN 1 ELSE 0 END, CASE WHEN NEW.kind = 'message' AND NEW.points <= 0 THEN"
            ' 1 ELSE 0 END) ON CONFLICT (epoch_id, member_id, kind, rule, app_id) DO UPDATE SET points'
            ' = engagement_member_totals.points + excluded.points, entries ='
            ' engagement_member_totals.entries + excluded.entries, counted ='
            ' engagement_member_totals.counted + excluded.counted, not_counted ='
            ' engagement_member_totals.not_counted + excluded.not_counted; END'
        ),
        (
            'CREATE TRIGGER IF NOT EXISTS engagement_ledger_corrections AFTER INSERT ON'
            " engagement_ledger WHEN NEW.kind = 'message' AND EXISTS (SELECT 1 FROM engagement_ledger"
            ' WHERE chat_id = NEW.chat_id AND cause = NEW.cause AND revision <> NEW.revision AND'
            " +epoch_id = NEW.epoch_id AND +member_id = NEW.member_id AND +kind = 'message') BEGIN"
            ' INSERT INTO engagement_member_totals (epoch_id, member_id, kind, rule, app_id, chat_id,'
            ' points, entries, counted, not_counted) VALUES (NEW.epoch_id, NEW.member_id, NEW.kind,'
            " NEW.rule, CASE WHEN NEW.kind = 'app' THEN substr(NEW.cause, 5, instr(substr(NEW.cause, 5)"
            " || ':', ':') - 1) ELSE '' END, NEW.chat_id, NEW.points, 1, 0, 0) ON CONFLICT (epoch_id,"
            ' member_id, kind, rule, app_id) DO UPDATE SET points = engagement_member_totals.points +'
            ' excluded.points, entries = engagement_member_totals.entries + excluded.entries, counted ='
            ' engagement_member_totals.counted + excluded.counted, not_counted ='
            ' engagement_member_totals.not_counted + excluded.not_counted; UPDATE'
            ' engagement_member_totals SET counted = engagement_member_totals.counted - CASE WHEN v.net'
            ' > 0 THEN 1 ELSE 0 END, not_counted = engagement_member_totals.not_counted - CASE WHEN'
            ' v.net > 0 THEN 0 ELSE 1 END FROM (SELECT f.rule AS final_rule, a.net AS net, a.rev AS rev'
            ' FROM (SELECT sum(points) AS net, max(revision) AS rev FROM engagement_ledger WHERE'
            ' chat_id = NEW.chat_id AND cause = NEW.cause AND +epoch_id = NEW.epoch_id AND +member_id ='
            " NEW.member_id AND +kind = 'message' AND revision <> NEW.revision) a JOIN"
            ' engagement_ledger f ON f.chat_id = NEW.chat_id AND f.cause = NEW.cause AND f.revision ='
            ' a.rev) v WHERE engagement_member_totals.epoch_id = NEW.epoch_id AND'
            ' engagement_member_totals.member_id = NEW.member_id AND engagement_member_totals.kind ='
            " 'message' AND engagement_member_totals.rule = v.final_rule AND"
            " engagement_member_totals.app_id = ''; UPDATE engagement_member_totals SET counted ="
            ' engagement_member_totals.counted + CASE WHEN v.net > 0 THEN 1 ELSE 0 END, not_counted ='
            ' engagement_member_totals.not_counted + CASE WHEN v.net > 0 THEN 0 ELSE 1 END FROM (SELECT'
            ' f.rule AS final_rule, a.net AS net, a.rev AS rev FROM (SELECT sum(points) AS net,'
            ' max(revision) AS rev FROM engagement_ledger WHERE chat_id = NEW.chat_id AND cause ='
            ' NEW.cause AND +epoch_id = NEW.epoch_id AND +member_id = NEW.member_id AND +kind ='
            " 'message') a JOIN engagement_ledger f ON f.chat_id = NEW.chat_id AND f.cause = NEW.cause"
            ' AND f.revision = a.rev) v WHERE engagement_member_totals.epoch_id = NEW.epoch_id AND'
            ' engagement_member_totals.member_id = NEW.member_id AND engagement_member_totals.kind ='
            " 'message' AND engagement_member_totals.rule = v.final_rule AND"
            " engagement_member_totals.app_id = ''; END"
        ),
    ],
    'postgresql': [
        (
            'CREATE OR REPLACE FUNCTION engagement_ledger_totals() RETURNS trigger LANGUAGE plpgsql'
            ' AS $$ DECLARE r record; moved bigint[]; prior_rule text; prior_net bigint; prior_rev'
            ' integer; BEGIN EXECUTE $q$ WITH batch AS (SELECT n.id, n.epoch_id, n.member_id, n.kind,'
            " n.rule, n.chat_id, n.points, CASE WHEN n.kind = 'app' THEN split_part(n.cause, ':', 2)"
            " ELSE '' END AS app_id, n.kind = 'message' AND EXISTS (SELECT 1 FROM engagement_ledger"
            ' WHERE chat_id = n.chat_id AND cause = n.cause AND revision <> n.revision AND epoch_id ='
            " n.epoch_id AND member_id = n.member_id AND kind = 'message') AS moves FROM inserted n),"
            ' sums AS (INSERT INTO engagement_member_totals (epoch_id, member_id, kind, rule, app_id,'
            ' chat_id, points, entries, counted, not_counted) SELECT epoch_id, member_id, kind, rule,'
            " app_id, min(chat_id), sum(points), count(*), count(*) FILTER (WHERE kind = 'message'"
            " AND NOT moves AND points > 0), count(*) FILTER (WHERE kind = 'message' AND NOT moves"
            ' AND points <= 0) FROM batch GROUP BY epoch_id, member_id, kind, rule, app_id ORDER BY'
            ' epoch_id, member_id, kind, rule, app_id ON CONFLICT (epoch_id, member_id, kind, rule,'
            ' app_id) DO UPDATE SET points = engagement_member_totals.points + excluded.points,'
            ' entries = engagement_member_totals.entries + excluded.entries, counted ='
            ' engagement_member_totals.counted + excluded.counted, not_counted ='
            ' engagement_member_totals.not_counted + excluded.not_counted) SELECT array_agg(id ORDER'
            ' BY id) FROM batch WHERE moves $q$ INTO moved; IF moved IS NOT NULL THEN FOR r IN SELECT'
            ' * FROM inserted WHERE id = ANY (moved) ORDER BY id LOOP SELECT p.final_rule, p.net,'
            ' p.rev INTO prior_rule, prior_net, prior_rev FROM (SELECT f.rule AS final_rule, a.net AS'
            ' net, a.rev AS rev FROM (SELECT sum(points) AS net, max(revision) AS rev FROM'
            ' engagement_ledger WHERE chat_id = r.chat_id AND cause = r.cause AND epoch_id ='
            " r.epoch_id AND member_id = r.member_id AND kind = 'message' AND revision <> r.revision)"
            ' a JOIN engagement_ledger f ON f.chat_id = r.chat_id AND f.cause = r.cause AND'
            ' f.revision = a.rev) p; UPDATE engagement_member_totals SET counted ='
            ' engagement_member_totals.counted - CASE WHEN prior_net > 0 THEN 1 ELSE 0 END,'
            ' not_counted = engagement_member_totals.not_counted - CASE WHEN prior_net > 0 THEN 0'
            ' ELSE 1 END WHERE engagement_member_totals.epoch_id = r.epoch_id AND'
            ' engagement_member_totals.member_id = r.member_id AND engagement_member_totals.kind ='
            " 'message' AND engagement_member_totals.rule = prior_rule AND"
            " engagement_member_totals.app_id = ''; UPDATE engagement_member_totals SET counted ="
            ' engagement_member_totals.counted + CASE WHEN prior_net + r.points > 0 THEN 1 ELSE 0'
            ' END, not_counted = engagement_member_totals.not_counted + CASE WHEN prior_net +'
            ' r.points > 0 THEN 0 ELSE 1 END WHERE engagement_member_totals.epoch_id = r.epoch_id AND'
            ' engagement_member_totals.member_id = r.member_id AND engagement_member_totals.kind ='
            " 'message' AND engagement_member_totals.rule = CASE WHEN r.revision > prior_rev THEN"
            " r.rule ELSE prior_rule END AND engagement_member_totals.app_id = ''; END LOOP; END IF;"
            ' RETURN NULL; END $$'
        ),
        (
            'CREATE OR REPLACE TRIGGER engagement_ledger_totals AFTER INSERT ON engagement_ledger'
            ' REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION'
            ' engagement_ledger_totals()'
        ),
    ],
}
DROP = {
    'sqlite': [
        (
            'DROP TRIGGER IF EXISTS engagement_ledger_totals'
        ),
        (
            'DROP TRIGGER IF EXISTS engagement_ledger_corrections'
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
# What revisions 0003 and 0010 made, for the downgrade.
PREVIOUS_SCORE = {
    'postgresql': [
        (
            'CREATE OR REPLACE FUNCTION engagement_ledger_score() RETURNS trigger LANGUAGE plpgsql AS'
            ' $$ BEGIN IF NEW.points <> 0 THEN INSERT INTO engagement_scores (epoch_id, member_id,'
            ' chat_id, points) VALUES (NEW.epoch_id, NEW.member_id, NEW.chat_id, NEW.points) ON'
            ' CONFLICT (epoch_id, member_id) DO UPDATE SET points = engagement_scores.points +'
            ' excluded.points; END IF; RETURN NULL; END $$'
        ),
        (
            'CREATE OR REPLACE TRIGGER engagement_ledger_score AFTER INSERT ON engagement_ledger FOR'
            ' EACH ROW EXECUTE FUNCTION engagement_ledger_score()'
        ),
    ],
}
PREVIOUS_TOTALS = {
    'sqlite': [
        (
            'CREATE TRIGGER IF NOT EXISTS engagement_ledger_totals AFTER INSERT ON engagement_ledger'
            ' BEGIN INSERT INTO engagement_member_totals (epoch_id, member_id, kind, rule, app_id,'
            ' chat_id, points, entries, counted, not_counted) VALUES (NEW.epoch_id, NEW.member_id,'
            " NEW.kind, NEW.rule, CASE WHEN NEW.kind = 'app' THEN substr(NEW.cause, 5,"
            " instr(substr(NEW.cause, 5) || ':', ':') - 1) ELSE '' END, NEW.chat_id, NEW.points, 1, 0,"
            ' 0) ON CONFLICT (epoch_id, member_id, kind, rule, app_id) DO UPDATE SET points ='
            ' engagement_member_totals.points + excluded.points, entries ='
            ' engagement_member_totals.entries + 1, counted = engagement_member_totals.counted +'
            ' excluded.counted, not_counted = engagement_member_totals.not_counted +'
            ' excluded.not_counted; UPDATE engagement_member_totals SET counted ='
            ' engagement_member_totals.counted - CASE WHEN v.net > 0 THEN 1 ELSE 0 END, not_counted ='
            ' engagement_member_totals.not_counted - CASE WHEN v.net > 0 THEN 0 ELSE 1 END FROM (SELECT'
            ' f.rule AS final_rule, a.net AS net, a.rev AS rev FROM (SELECT sum(points) AS net,'
            ' max(revision) AS rev FROM engagement_ledger WHERE chat_id = NEW.chat_id AND cause ='
            ' NEW.cause AND +epoch_id = NEW.epoch_id AND +member_id = NEW.member_id AND +kind ='
            " 'message' AND revision <> NEW.revision) a JOIN engagement_ledger f ON f.chat_id ="
            " NEW.chat_id AND f.cause = NEW.cause AND f.revision = a.rev) v WHERE NEW.kind = 'message'"
            ' AND engagement_member_totals.epoch_id = NEW.epoch_id AND'
            ' engagement_member_totals.member_id = NEW.member_id AND engagement_member_totals.kind ='
            " 'message' AND engagement_member_totals.rule = v.final_rule AND"
            " engagement_member_totals.app_id = ''; UPDATE engagement_member_totals SET counted ="
            ' engagement_member_totals.counted + CASE WHEN v.net > 0 THEN 1 ELSE 0 END, not_counted ='
            ' engagement_member_totals.not_counted + CASE WHEN v.net > 0 THEN 0 ELSE 1 END FROM (SELECT'
            ' f.rule AS final_rule, a.net AS net, a.rev AS rev FROM (SELECT sum(points) AS net,'
            ' max(revision) AS rev FROM engagement_ledger WHERE chat_id = NEW.chat_id AND cause ='
            ' NEW.cause AND +epoch_id = NEW.epoch_id AND +member_id = NEW.member_id AND +kind ='
            " 'message') a JOIN engagement_ledger f ON f.chat_id = NEW.chat_id AND f.cause = NEW.cause"
            " AND f.revision = a.rev) v WHERE NEW.kind = 'message' AND"
            ' engagement_member_totals.epoch_id = NEW.epoch_id AND engagement_member_totals.member_id ='
            " NEW.member_id AND engagement_member_totals.kind = 'message' AND"
            " engagement_member_totals.rule = v.final_rule AND engagement_member_totals.app_id = '';"
            ' END'
        ),
    ],
    'postgresql': [
        (
            'CREATE OR REPLACE FUNCTION engagement_ledger_totals() RETURNS trigger LANGUAGE plpgsql AS'
            ' $$ DECLARE prior_rule text; prior_net bigint; prior_rev integer; BEGIN IF NEW.kind ='
            " 'message' THEN SELECT p.final_rule, p.net, p.rev INTO prior_rule, prior_net, prior_rev"
            ' FROM (SELECT f.rule AS final_rule, a.net AS net, a.rev AS rev FROM (SELECT sum(points) AS'
            ' net, max(revision) AS rev FROM engagement_ledger WHERE chat_id = NEW.chat_id AND cause ='
            " NEW.cause AND epoch_id = NEW.epoch_id AND member_id = NEW.member_id AND kind = 'message'"
            ' AND revision <> NEW.revision) a JOIN engagement_ledger f ON f.chat_id = NEW.chat_id AND'
            ' f.cause = NEW.cause AND f.revision = a.rev) p; END IF; INSERT INTO'
            ' engagement_member_totals (epoch_id, member_id, kind, rule, app_id, chat_id, points,'
            ' entries, counted, not_counted) VALUES (NEW.epoch_id, NEW.member_id, NEW.kind, NEW.rule,'
            " CASE WHEN NEW.kind = 'app' THEN split_part(NEW.cause, ':', 2) ELSE '' END, NEW.chat_id,"
            " NEW.points, 1, CASE WHEN NEW.kind = 'message' AND prior_rule IS NULL AND NEW.points > 0"
            " THEN 1 ELSE 0 END, CASE WHEN NEW.kind = 'message' AND prior_rule IS NULL AND NEW.points"
            ' <= 0 THEN 1 ELSE 0 END) ON CONFLICT (epoch_id, member_id, kind, rule, app_id) DO UPDATE'
            ' SET points = engagement_member_totals.points + excluded.points, entries ='
            ' engagement_member_totals.entries + 1, counted = engagement_member_totals.counted +'
            ' excluded.counted, not_counted = engagement_member_totals.not_counted +'
            ' excluded.not_counted; IF prior_rule IS NOT NULL THEN UPDATE engagement_member_totals SET'
            ' counted = engagement_member_totals.counted - CASE WHEN prior_net > 0 THEN 1 ELSE 0 END,'
            ' not_counted = engagement_member_totals.not_counted - CASE WHEN prior_net > 0 THEN 0 ELSE'
            ' 1 END WHERE engagement_member_totals.epoch_id = NEW.epoch_id AND'
            ' engagement_member_totals.member_id = NEW.member_id AND engagement_member_totals.kind ='
            " 'message' AND engagement_member_totals.rule = prior_rule AND"
            " engagement_member_totals.app_id = ''; UPDATE engagement_member_totals SET counted ="
            ' engagement_member_totals.counted + CASE WHEN prior_net + NEW.points > 0 THEN 1 ELSE 0'
            ' END, not_counted = engagement_member_totals.not_counted + CASE WHEN prior_net +'
            ' NEW.points > 0 THEN 0 ELSE 1 END WHERE engagement_member_totals.epoch_id = NEW.epoch_id'
            ' AND engagement_member_totals.member_id = NEW.member_id AND engagement_member_totals.kind'
            " = 'message' AND engagement_member_totals.rule = CASE WHEN NEW.revision > prior_rev THEN"
            " NEW.rule ELSE prior_rule END AND engagement_member_totals.app_id = ''; END IF; RETURN"
            ' NULL; END $$'
        ),
        (
            'CREATE OR REPLACE TRIGGER engagement_ledger_totals AFTER INSERT ON engagement_ledger FOR'
            ' EACH ROW EXECUTE FUNCTION engagement_ledger_totals()'
        ),
    ],
}


def _run(*parts: dict[str, list[str]]) -> None:
    dialect = op.get_bind().dialect.name
    for part in parts:
        for statement in part.get(dialect, []):
            op.execute(statement)


def upgrade() -> None:
    _run(DROP, SCORE, TOTALS)


def downgrade() -> None:
    _run(DROP, PREVIOUS_SCORE, PREVIOUS_TOTALS)
