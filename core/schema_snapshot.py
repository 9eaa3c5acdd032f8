"""A new SQLite database straight at the migrations' head, without running them.

Every `townsquare sandbox` on a new data directory used to run all the migrations (Alembic,
SQLAlchemy and the models imported in a child process) only to end up with one known schema.
`core/migrations/sqlite_head.sql` is that schema, the statements SQLite itself recorded after
the migrations ran (`python -m core.schema_snapshot` writes it again). `prepare(path)` creates an
empty database from it and stamps the head revision; tests/core/test_schema_snapshot.py proves
the result is the database the migrations make, table by table.

Stdlib only, so that the gateway can call it before it imports anything heavy. The snapshot
names the migration files it was made from: once a migration is added and the snapshot is not
written again, `prepare` declines and the caller runs the migrations as before.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from dataclasses import dataclass
from pathlib import Path

MIGRATIONS = Path(__file__).parent / "migrations"
VERSIONS = MIGRATIONS / "versions"
SNAPSHOT = MIGRATIONS / "sqlite_head.sql"
_REVISION = "-- revision: "
_FILES = "-- migrations: "
_HEADER = (
    "-- Townsquare's SQLite schema at the migrations' head: what SQLite recorded after running\n"
    "-- them. Written by `python -m core.schema_snapshot`; do not edit by hand.\n"
)
# Tables first: an index or a trigger names its table, and a view may read another view.
_ORDER = {"table": 0, "index": 1, "view": 2, "trigger": 3}


@dataclass(frozen=True)
class Snapshot:
    revision: str
    migrations: tuple[str, ...]
    statements: tuple[str, ...]


def migration_files(versions: Path = VERSIONS) -> tuple[str, ...]:
    """The migration modules' file names, sorted."""
    return tuple(sorted(p.name for p in versions.glob("*.py") if not p.name.startswith("_")))


def parse(text: str) -> Snapshot:
    revision, pending = "", ""
    migrations: tuple[str, ...] = ()
    statements: list[str] = []
    for line in text.splitlines(keepends=True):
        if line.startswith(_REVISION):
            revision = line.removeprefix(_REVISION).strip()
        elif line.startswith(_FILES):
            migrations = tuple(line.removeprefix(_FILES).split())
        elif pending or not line.startswith("--"):
            pending += line
            # A trigger's body holds semicolons: only a complete statement ends at one.
            if sqlite3.complete_statement(pending):
                statements.append(pending.strip().removesuffix(";"))
                pending = ""
    return Snapshot(revision, migrations, tuple(s for s in statements if s))


def load(snapshot: Path = SNAPSHOT) -> Snapshot:
    return parse(snapshot.read_text(encoding="utf-8"))


def render(database: Path, *, revision: str, migrations: tuple[str, ...]) -> str:
    """The snapshot text of a database that the migrations brought to `revision`."""
    conn = sqlite3.connect(database)
    try:
        rows = conn.execute(
            "SELECT type, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'"
            " ORDER BY rowid"
        ).fetchall()
    finally:
        conn.close()
    rows.sort(key=lambda row: _ORDER[row[0]])
    body = "".join(f"{sql};\n" for _, sql in rows)
    return f"{_HEADER}{_REVISION}{revision}\n{_FILES}{' '.join(migrations)}\n{body}"


def _revision(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:  # no such table
        return None
    return str(row[0]) if row else None


def prepare(
    database: Path,
    *,
    snapshot: Path = SNAPSHOT,
    versions: Path = VERSIONS,
    timeout: float = 5.0,
) -> bool:
    """Brings the SQLite file `database` to the head revision if that needs no migration.

    True when it is at the head afterwards: it was already, or it was empty (or missing) and
    is now created from the snapshot. False leaves the file as it was, for the migrations: it
    holds an older schema, or the snapshot is older than the migrations.
    """
    head = load(snapshot)
    if not head.revision or head.migrations != migration_files(versions):
        return False
    database.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(database, timeout=timeout, isolation_level=None)
    try:
        if _revision(conn) == head.revision:
            return True
        # Taken before looking, so that two gateways starting at once cannot both create it.
        conn.execute("BEGIN IMMEDIATE")
        if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            conn.execute("ROLLBACK")
            return _revision(conn) == head.revision
        for statement in head.statements:
            conn.execute(statement)
        conn.execute("INSERT INTO alembic_version (version_num) VALUES (?)", (head.revision,))
        conn.execute("COMMIT")
        # The migrations leave a WAL database; the mode is a property of the file.
        _set_wal(conn, timeout)
        return True
    finally:
        conn.close()


def _set_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Switches the file to WAL. The switch needs the file to itself, and SQLite answers
    "locked" at once, without waiting, while another connection (a gateway starting at the same
    time) holds a lock it would have to wait behind: so it is tried again until `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def main() -> None:
    """Writes the snapshot from a new database that the migrations bring to their head."""
    import tempfile

    from core.migrate import revisions, upgrade

    with tempfile.TemporaryDirectory() as tmp:
        database = Path(tmp) / "head.db"
        upgrade(f"sqlite+aiosqlite:///{database.as_posix()}")
        text = render(database, revision=revisions()[-1], migrations=migration_files())
    SNAPSHOT.write_text(text, encoding="utf-8")
    sys.stdout.write(f"wrote {SNAPSHOT}\n")


if __name__ == "__main__":
    main()
