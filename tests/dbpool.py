"""Migrated test databases without migrating for every test.

Most tests want a database at the head revision. Running the migrations for each of them (and,
on PostgreSQL, creating and dropping a database each time) was most of the suite's time, so:

- SQLite: the migrations run once per session into a template file, and each test gets a copy.
- PostgreSQL: migrated databases are kept in a pool. A test borrows one; when it gives it back,
  other connections are ended, every row is deleted and the sequences restart, and the database
  returns to the pool only if its schema is still the template's (a test that dropped or altered
  anything costs a new database instead).

Tests that need an empty database (the stairway) ask for the `empty_*` fixtures instead.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import sqlite3
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

# Everything a test could change in the schema: relations (tables, indexes, views, sequences) with
# their column counts, triggers, functions and types in the public schema, and the revision.
SCHEMA_FINGERPRINT = """
SELECT md5(concat_ws('|',
  (SELECT string_agg(concat_ws(':', c.relname, c.relkind, c.relnatts), ',' ORDER BY c.relname)
     FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace),
  (SELECT string_agg(t.tgname, ',' ORDER BY t.tgname) FROM pg_trigger t
     JOIN pg_class c ON c.oid = t.tgrelid
    WHERE NOT t.tgisinternal AND c.relnamespace = 'public'::regnamespace),
  (SELECT string_agg(p.proname, ',' ORDER BY p.proname)
     FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace),
  (SELECT string_agg(t.typname, ',' ORDER BY t.typname)
     FROM pg_type t WHERE t.typnamespace = 'public'::regnamespace),
  (SELECT string_agg(version_num, ',') FROM alembic_version)
))
"""

TABLES = """
SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'
"""
SEQUENCES = "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"


def run_async(make: Callable[[], Awaitable[T]]) -> T:
    """Runs a coroutine to completion outside whatever event loop the caller is in."""

    async def main() -> T:
        return await make()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()


async def execute(dsn: str, statement: str, *args: object) -> object:
    """One statement on its own connection (CREATE and DROP DATABASE run outside transactions)."""
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        return await conn.execute(statement, *args)
    finally:
        await conn.close()


def in_thread(fn: Callable[[str], None], arg: str) -> None:
    """Runs `fn` on its own thread: the migrations start an event loop, and the first test to ask
    for a template may already be running one."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(fn, arg).result()


def sqlite_template(directory: Path, upgrade: Callable[[str], None]) -> Path:
    """A SQLite file migrated to the head revision, its write-ahead log folded in."""
    path = directory / "template.db"
    in_thread(upgrade, f"sqlite+aiosqlite:///{path}")
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def copy_sqlite(template: Path, target: Path) -> str:
    shutil.copyfile(template, target)
    return f"sqlite+aiosqlite:///{target}"


class PostgresPool:
    """Migrated PostgreSQL databases for one test session (one pytest process)."""

    def __init__(self, admin_dsn: str, upgrade: Callable[[str], None]) -> None:
        self.admin_dsn = admin_dsn
        self.upgrade = upgrade
        self.base = admin_dsn.rsplit("/", 1)[0]
        self.prefix = f"townsquare_p_{secrets.token_hex(4)}"
        self.free: list[str] = []
        self.made: set[str] = set()
        self.template = ""
        self.fingerprint = ""

    def url(self, name: str) -> str:
        return f"postgresql+asyncpg://{self.base.split('://', 1)[1]}/{name}"

    def dsn(self, name: str) -> str:
        return f"{self.base}/{name}"

    async def admin(self, statement: str, *args: object) -> object:
        return await execute(self.admin_dsn, statement, *args)

    async def fetchval(self, name: str, query: str) -> object:
        import asyncpg

        conn = await asyncpg.connect(self.dsn(name), timeout=5)
        try:
            return await conn.fetchval(query)
        finally:
            await conn.close()

    def start(self) -> None:
        """Creates and migrates the template every pooled database is copied from."""
        self.template = f"{self.prefix}_template"
        run_async(lambda: self.admin(f'CREATE DATABASE "{self.template}"'))
        self.made.add(self.template)
        in_thread(self.upgrade, self.url(self.template))
        self.fingerprint = str(run_async(lambda: self.fetchval(self.template, SCHEMA_FINGERPRINT)))

    def acquire(self) -> str:
        if self.free:
            return self.url(self.free.pop())
        name = f"{self.prefix}_{len(self.made)}"
        run_async(lambda: self.admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
        self.made.add(name)
        return self.url(name)

    def release(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        if run_async(lambda: self.reset(name)):
            self.free.append(name)
        else:
            run_async(lambda: self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            self.made.discard(name)

    async def reset(self, name: str) -> bool:
        """Empties a borrowed database; False when its schema is no longer the template's."""
        import asyncpg

        await self.admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        conn = await asyncpg.connect(self.dsn(name), timeout=5)
        try:
            if await conn.fetchval(SCHEMA_FINGERPRINT) != self.fingerprint:
                return False
            tables = [row[0] for row in await conn.fetch(TABLES)]
            sequences = [row[0] for row in await conn.fetch(SEQUENCES)]
            # Row triggers (the ledger's score trigger, append-only guards) and foreign keys
            # would fire for every deleted row; a replica session skips them. One script, one
            # round trip.
            script = [
                "BEGIN",
                "SET LOCAL session_replication_role = replica",
                *(f'DELETE FROM "{table}"' for table in tables),
                *(f"SELECT setval('\"{sequence}\"', 1, false)" for sequence in sequences),
                "COMMIT",
            ]
            await conn.execute(";\n".join(script))
            return True
        finally:
            await conn.close()

    def close(self) -> None:
        for name in sorted(self.made):
            run_async(lambda n=name: self.admin(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)'))  # type: ignore[misc]
        self.made.clear()
        self.free.clear()
