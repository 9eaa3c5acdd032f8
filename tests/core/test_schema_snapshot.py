"""A SQLite database made from the schema snapshot is the one the migrations make."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from core import schema_snapshot
from core.migrate import revisions, upgrade

PRAGMAS = ("journal_mode", "user_version", "application_id", "encoding", "auto_vacuum")


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path.as_posix()}"


def describe(path: Path) -> dict[str, Any]:
    """Everything a schema is made of, and every row, read back from SQLite itself."""
    conn = sqlite3.connect(path)
    try:
        master = sorted(
            conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall(),
            key=lambda row: (row[0], row[1]),
        )
        tables = [name for kind, name, _, _ in master if kind == "table"]
        indexes = [name for kind, name, _, _ in master if kind == "index"]
        return {
            "master": master,
            "pragmas": {p: conn.execute(f"PRAGMA {p}").fetchall() for p in PRAGMAS},
            "columns": {t: conn.execute(f"PRAGMA table_xinfo('{t}')").fetchall() for t in tables},
            "index_lists": {
                t: sorted(conn.execute(f"PRAGMA index_list('{t}')").fetchall()) for t in tables
            },
            "index_columns": {
                i: conn.execute(f"PRAGMA index_xinfo('{i}')").fetchall() for i in indexes
            },
            "foreign_keys": {
                t: conn.execute(f"PRAGMA foreign_key_list('{t}')").fetchall() for t in tables
            },
            "rows": {t: sorted(conn.execute(f"SELECT * FROM '{t}'").fetchall()) for t in tables},
        }
    finally:
        conn.close()


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new database that Alembic took through every migration."""
    path = tmp_path_factory.mktemp("migrated") / "townsquare.db"
    upgrade(sqlite_url(path))
    return path


def test_snapshot_is_what_the_migrations_leave(migrated: Path) -> None:
    rendered = schema_snapshot.render(
        migrated, revision=revisions()[-1], migrations=schema_snapshot.migration_files()
    )
    assert rendered == schema_snapshot.SNAPSHOT.read_text(encoding="utf-8"), (
        "the migrations changed: write the snapshot again with `python -m core.schema_snapshot`"
    )


def test_database_from_snapshot_equals_migrated_one(migrated: Path, tmp_path: Path) -> None:
    created = tmp_path / "new" / "townsquare.db"
    assert schema_snapshot.prepare(created)
    expected, actual = describe(migrated), describe(created)
    assert actual["master"] == expected["master"]
    for part in expected:
        assert actual[part] == expected[part], part
    assert actual["rows"]["alembic_version"] == [(revisions()[-1],)]


async def test_snapshot_database_takes_migrations_down_and_up(tmp_path: Path) -> None:
    from core.migrate import downgrade

    path = tmp_path / "townsquare.db"
    assert schema_snapshot.prepare(path)
    await asyncio.to_thread(downgrade, sqlite_url(path), revisions()[-2])
    await asyncio.to_thread(upgrade, sqlite_url(path))
    assert describe(path)["rows"]["alembic_version"] == [(revisions()[-1],)]


def test_older_database_is_left_to_the_migrations(tmp_path: Path) -> None:
    path = tmp_path / "townsquare.db"
    upgrade(sqlite_url(path), revisions()[-2])
    before = describe(path)
    assert not schema_snapshot.prepare(path)
    assert describe(path) == before
    upgrade(sqlite_url(path))
    assert schema_snapshot.prepare(path)  # at the head now: nothing to do


def test_stale_snapshot_declines(tmp_path: Path) -> None:
    versions = tmp_path / "versions"
    shutil.copytree(schema_snapshot.VERSIONS, versions, ignore=shutil.ignore_patterns("__*"))
    (versions / "9999_newer.py").write_text('revision = "9999"\n')
    path = tmp_path / "townsquare.db"
    assert not schema_snapshot.prepare(path, versions=versions)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)
    conn.close()


def test_gateways_starting_together_create_it_once(tmp_path: Path) -> None:
    path = tmp_path / "townsquare.db"
    results: list[bool] = []
    threads = [
        threading.Thread(target=lambda: results.append(schema_snapshot.prepare(path)))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [True] * 4
    assert describe(path)["rows"]["alembic_version"] == [(revisions()[-1],)]


def test_parse_keeps_trigger_bodies_whole() -> None:
    text = (
        "-- revision: 7\n-- migrations: a.py b.py\n"
        "CREATE TABLE t (x INT);\n"
        "CREATE TRIGGER g AFTER INSERT ON t BEGIN SELECT 1; SELECT 2; END;\n"
    )
    parsed = schema_snapshot.parse(text)
    assert parsed.revision == "7"
    assert parsed.migrations == ("a.py", "b.py")
    assert parsed.statements == (
        "CREATE TABLE t (x INT)",
        "CREATE TRIGGER g AFTER INSERT ON t BEGIN SELECT 1; SELECT 2; END",
    )
