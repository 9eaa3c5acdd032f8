"""Running totals of the points ledger, per member, epoch, kind and rule.

`engagement_member_totals` is a cache of ledger sums, like `engagement_scores` but finer: a
trigger on the ledger adds each inserted row to it in the same statement, so the points page
reads a member's breakdown in one indexed read instead of summing the member's whole ledger.
On PostgreSQL it is a statement trigger, so a batch of rows costs one grouped upsert; on SQLite,
two row triggers split by whether the row is a correction.

Besides points and entry counts, the rows of kind `message` count the member's messages by
their final decision (the highest revision of each message's cause): `counted` when the
message's net points are positive, `not_counted` otherwise, under the final row's rule. The
trigger moves a message from its old decision to its new one when a correction arrives. This
relies on the ledger's discipline that revision n+1 of a cause is computed from, so written
after, revision n: two revisions of one cause are never in flight together.

Rows of kind `app` are also kept apart per mini-app (`app_id`, from the cause
`app:<app_id>:<event_id>`), which is what an app's points cap bounds; other kinds have `''`.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, String
from sqlmodel import Field

from core.model_base import DeferredModel

TABLE = "engagement_member_totals"
TRIGGER = "engagement_ledger_totals"
# SQLite's second trigger: the rows that move a message between decisions.
CORRECTIONS = "engagement_ledger_corrections"
# PostgreSQL's statement triggers read a statement's new ledger rows under this name.
INSERTED = "inserted"


class MemberTotal(DeferredModel, table=True):
    """The ledger rows of one member in one epoch with one kind, rule and app, summed up."""

    __tablename__ = TABLE

    epoch_id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    member_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    kind: str = Field(sa_column=Column(String(16), primary_key=True))
    rule: str = Field(sa_column=Column(String(32), primary_key=True))
    app_id: str = Field(default="", sa_column=Column(String(64), primary_key=True))
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    points: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    entries: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    counted: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    not_counted: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))


COLUMNS = "epoch_id, member_id, kind, rule, app_id, chat_id, points, entries, counted, not_counted"
KEY = "epoch_id, member_id, kind, rule, app_id"


def _app_id(dialect: str, row: str) -> str:
    """SQL for the app of an `app` row (the cause's second `:`-separated part), else `''`."""
    cause = f"{row}cause"
    part = (
        f"split_part({cause}, ':', 2)"
        if dialect == "postgresql"
        else f"substr({cause}, 5, instr(substr({cause}, 5) || ':', ':') - 1)"
    )
    return f"CASE WHEN {row}kind = 'app' THEN {part} ELSE '' END"


def _upsert(dialect: str, *, counted: str, not_counted: str) -> str:
    """Adds NEW to its totals row; `counted`/`not_counted` are SQL for what NEW's message
    adds to its decision counts when it is the first row of its message."""
    return (
        f"INSERT INTO {TABLE} ({COLUMNS}) VALUES (NEW.epoch_id, NEW.member_id, NEW.kind,"
        f" NEW.rule, {_app_id(dialect, 'NEW.')}, NEW.chat_id, NEW.points, 1,"
        f" {counted}, {not_counted}){_ADD};"
    )


# Adds an upserted row's sums to the stored ones.
_ADD = (
    " ON CONFLICT (epoch_id, member_id, kind, rule, app_id) DO UPDATE SET"
    f" points = {TABLE}.points + excluded.points, entries = {TABLE}.entries + excluded.entries,"
    f" counted = {TABLE}.counted + excluded.counted,"
    f" not_counted = {TABLE}.not_counted + excluded.not_counted"
)


def _decision_row(rule: str, row: str = "NEW.") -> str:
    """The totals row of `row`'s member whose message decisions are under `rule`."""
    return (
        f"{TABLE}.epoch_id = {row}epoch_id AND {TABLE}.member_id = {row}member_id"
        f" AND {TABLE}.kind = 'message' AND {TABLE}.rule = {rule} AND {TABLE}.app_id = ''"
    )


def _count(sign: str, net: str) -> str:
    return (
        f"counted = {TABLE}.counted {sign} CASE WHEN {net} > 0 THEN 1 ELSE 0 END,"
        f" not_counted = {TABLE}.not_counted {sign} CASE WHEN {net} > 0 THEN 0 ELSE 1 END"
    )


# The rows of a row's message other than that row, for a row `{row}` of kind `message`:
# their net points, highest revision, and the rule of that revision. Found through the
# ledger's unique (chat, cause, revision) key; on SQLite the unary `+` keeps the planner off the
# member's (epoch, member) index, which leads to every row of the member.
PRIOR = (
    "SELECT f.rule AS final_rule, a.net AS net, a.rev AS rev FROM (SELECT sum(points) AS net,"
    " max(revision) AS rev FROM engagement_ledger"
    " WHERE chat_id = {row}chat_id AND cause = {row}cause AND {plus}epoch_id = {row}epoch_id"
    " AND {plus}member_id = {row}member_id AND {plus}kind = 'message'{others}) a"
    " JOIN engagement_ledger f"
    " ON f.chat_id = {row}chat_id AND f.cause = {row}cause AND f.revision = a.rev"
)


def corrects(dialect: str, row: str) -> str:
    """SQL: `row` is a correction, a message row whose cause has other revisions in the ledger,
    so it may move its message between decisions. A probe of one cause's entries in the unique
    key. Not `revision > 0`: a revision written before a lower one (a replay, an import) makes
    the lower one the correction, and a lone higher revision is its message's first row.

    On PostgreSQL the probe asks for the first such entry in the key's order: only the key
    gives that order without a sort. A planner without statistics (a young ledger, before its
    first ANALYZE) costs the key and the (chat, time) index alike for an EXISTS, and taking the
    index it read every row of the chat for each new row. On SQLite the unary `+` keeps the
    planner off the member's (epoch, member) index."""
    if dialect == "postgresql":
        return (
            f"{row}kind = 'message' AND (SELECT revision FROM engagement_ledger"
            f" WHERE chat_id = {row}chat_id AND cause = {row}cause AND revision <> {row}revision"
            f" AND epoch_id = {row}epoch_id AND member_id = {row}member_id AND kind = 'message'"
            " ORDER BY chat_id, cause, revision LIMIT 1) IS NOT NULL"
        )
    return (
        f"{row}kind = 'message' AND EXISTS (SELECT 1 FROM engagement_ledger"
        f" WHERE chat_id = {row}chat_id AND cause = {row}cause AND revision <> {row}revision"
        f" AND +epoch_id = {row}epoch_id AND +member_id = {row}member_id"
        f" AND +kind = 'message')"
    )


def _postgresql_body() -> str:
    """Statement level, in one statement: the statement's rows are summed into their totals
    rows by one upsert (grouped by its key: a statement may hold several rows of one member),
    a message's first row counted there at once, and the rows that are corrections are picked
    out. Only those then run the per-row move of revision 0010's trigger, in insertion order:
    out of the decision the message had without the row, into the one it has with it.

    PL/pgSQL plans the statement once per session (an ANALYZE of its tables plans it again);
    its probe of the ledger can only take the unique key (`corrects`), whatever the planner
    knows of the ledger."""
    rows = (
        "SELECT n.id, n.epoch_id, n.member_id, n.kind, n.rule, n.chat_id, n.points,"
        f" {_app_id('postgresql', 'n.')} AS app_id, {corrects('postgresql', 'n.')} AS moves"
        f" FROM {INSERTED} n"
    )
    first = "kind = 'message' AND NOT moves"
    sums = (
        f"INSERT INTO {TABLE} ({COLUMNS})"
        " SELECT epoch_id, member_id, kind, rule, app_id, min(chat_id), sum(points), count(*),"
        f" count(*) FILTER (WHERE {first} AND points > 0),"
        f" count(*) FILTER (WHERE {first} AND points <= 0)"
        f" FROM batch GROUP BY {KEY} ORDER BY {KEY}{_ADD}"
    )
    prior = PRIOR.format(row="r.", plus="", others=" AND revision <> r.revision")
    final = "CASE WHEN r.revision > prior_rev THEN r.rule ELSE prior_rule END"
    return (
        "DECLARE r record; moved bigint[]; prior_rule text; prior_net bigint; prior_rev integer;"
        f" BEGIN WITH batch AS ({rows}), sums AS ({sums})"
        " SELECT array_agg(id ORDER BY id) INTO moved FROM batch WHERE moves;"
        " IF moved IS NOT NULL THEN"
        f" FOR r IN SELECT * FROM {INSERTED} WHERE id = ANY (moved) ORDER BY id LOOP"
        " SELECT p.final_rule, p.net, p.rev INTO prior_rule, prior_net, prior_rev"
        f" FROM ({prior}) p;"
        f" UPDATE {TABLE} SET {_count('-', 'prior_net')}"
        f" WHERE {_decision_row('prior_rule', 'r.')};"
        f" UPDATE {TABLE} SET {_count('+', 'prior_net + r.points')}"
        f" WHERE {_decision_row(final, 'r.')};"
        " END LOOP; END IF; RETURN NULL; END"
    )


def _sqlite_bodies() -> tuple[str, str]:
    """SQLite has no statement triggers, variables or IF: two row triggers with exclusive
    WHEN clauses. A row that corrects nothing (any other kind, or a message's first row) only
    adds itself, counting its message at once; a correction also takes its message out of the
    decision it had without the row (if any), then into the one it has with it."""
    moves = []
    for sign, others in (("-", " AND revision <> NEW.revision"), ("+", "")):
        prior = PRIOR.format(row="NEW.", plus="+", others=others)
        moves.append(
            f"UPDATE {TABLE} SET {_count(sign, 'v.net')} FROM ({prior}) v"
            f" WHERE {_decision_row('v.final_rule')};"
        )
    first = _upsert(
        "sqlite",
        counted="CASE WHEN NEW.kind = 'message' AND NEW.points > 0 THEN 1 ELSE 0 END",
        not_counted="CASE WHEN NEW.kind = 'message' AND NEW.points <= 0 THEN 1 ELSE 0 END",
    )
    correction = f"{_upsert('sqlite', counted='0', not_counted='0')} {' '.join(moves)}"
    return f"BEGIN {first} END", f"BEGIN {correction} END"


def totals_ddl(dialect: str) -> list[str]:
    """The triggers that keep the totals with every ledger insert, for `dialect`, idempotent."""
    if dialect == "postgresql":
        return [
            f"CREATE OR REPLACE FUNCTION {TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$"
            f" {_postgresql_body()} $$",
            f"CREATE OR REPLACE TRIGGER {TRIGGER} AFTER INSERT ON engagement_ledger"
            f" REFERENCING NEW TABLE AS {INSERTED} FOR EACH STATEMENT EXECUTE FUNCTION {TRIGGER}()",
        ]
    first, correction = _sqlite_bodies()
    correction_rows = corrects("sqlite", "NEW.")
    return [
        f"CREATE TRIGGER IF NOT EXISTS {TRIGGER} AFTER INSERT ON engagement_ledger"
        f" WHEN NOT ({correction_rows}) {first}",
        f"CREATE TRIGGER IF NOT EXISTS {CORRECTIONS} AFTER INSERT ON engagement_ledger"
        f" WHEN {correction_rows} {correction}",
    ]


def totals_drop_ddl(dialect: str) -> list[str]:
    """Undoes `totals_ddl`."""
    if dialect == "postgresql":
        return [
            f"DROP TRIGGER IF EXISTS {TRIGGER} ON engagement_ledger",
            f"DROP FUNCTION IF EXISTS {TRIGGER}()",
        ]
    return [f"DROP TRIGGER IF EXISTS {TRIGGER}", f"DROP TRIGGER IF EXISTS {CORRECTIONS}"]


def totals_backfill(dialect: str) -> list[str]:
    """Statements that fill an empty totals table from the ledger as it stands (the migration,
    and bulk loads that write the ledger with the trigger off)."""
    app = _app_id(dialect, "")
    sums = (
        f"INSERT INTO {TABLE} ({COLUMNS})"
        " SELECT epoch_id, member_id, kind, rule, app_id,"
        " min(chat_id), sum(points), count(*), 0, 0"
        f" FROM (SELECT epoch_id, member_id, kind, rule, {app} AS app_id, chat_id, points"
        " FROM engagement_ledger) l GROUP BY epoch_id, member_id, kind, rule, app_id"
    )
    per_message = (
        "SELECT epoch_id, member_id, chat_id, cause, sum(points) AS net, max(revision) AS rev"
        " FROM engagement_ledger WHERE kind = 'message'"
        " GROUP BY epoch_id, member_id, chat_id, cause"
    )
    decisions = (
        "SELECT m.epoch_id, m.member_id, f.rule AS final_rule,"
        " sum(CASE WHEN m.net > 0 THEN 1 ELSE 0 END) AS counted,"
        " sum(CASE WHEN m.net > 0 THEN 0 ELSE 1 END) AS not_counted"
        f" FROM ({per_message}) m JOIN engagement_ledger f"
        " ON f.chat_id = m.chat_id AND f.cause = m.cause AND f.revision = m.rev"
        " GROUP BY m.epoch_id, m.member_id, f.rule"
    )
    verdicts = (
        f"UPDATE {TABLE} SET counted = v.counted, not_counted = v.not_counted FROM ({decisions}) v"
        f" WHERE {TABLE}.epoch_id = v.epoch_id AND {TABLE}.member_id = v.member_id"
        f" AND {TABLE}.kind = 'message' AND {TABLE}.rule = v.final_rule AND {TABLE}.app_id = ''"
    )
    return [sums, verdicts]
