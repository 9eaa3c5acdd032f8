"""Checkpoints a SQLite database's write-ahead log on a thread of its own.

By default SQLite checkpoints inside the COMMIT that takes the log past 1,000 pages: that
writer copies the log's pages into the database file and syncs both files before its COMMIT
returns. The gateway commits one batch of updates at a time, so every update of that batch
waited for the copy. A running gateway checkpoints here instead: a connection of its own copies
what is committed every `interval` seconds, in PASSIVE mode (it neither waits for nor blocks
readers and the writer), while the sqlite3 module has released the interpreter lock. The
gateway's own connections keep SQLite's automatic checkpoint at a much longer log
(`FALLBACK_PAGES`), so the log stays bounded should this thread fall behind or stop.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)
# The automatic checkpoint of connections whose database has a `Checkpointer` (SQLite's
# default is 1,000 pages, 4 MB at the default page size).
FALLBACK_PAGES = 10_000
INTERVAL_SECONDS = 0.1


class Checkpointer:
    """A thread that checkpoints the database at `path` every `interval` seconds until
    `stop`."""

    def __init__(self, path: Path, *, interval: float = INTERVAL_SECONDS) -> None:
        self.path = path
        self.interval = interval
        # How many checkpoints ran, and how many log pages they found (for tests and logs).
        self.rounds = 0
        self.pages = 0
        self._failing = False
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)

    def __enter__(self) -> Checkpointer:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ends the thread after its current checkpoint (each takes milliseconds)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        connection = None
        try:
            while not self._stopping.wait(self.interval):
                connection = connection or self._connect()
                if connection is not None:
                    self._checkpoint(connection)
        finally:
            if connection is not None:
                connection.close()

    def _connect(self) -> sqlite3.Connection | None:
        """A connection to the database, once its file exists (this one never creates it:
        the migrations, or the schema snapshot, make it)."""
        try:
            uri = f"{self.path.resolve().as_uri()}?mode=rw"
            return sqlite3.connect(uri, uri=True, isolation_level=None)
        except sqlite3.OperationalError:
            return None

    def _checkpoint(self, connection: sqlite3.Connection) -> None:
        try:
            row = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:
            # The writers' own automatic checkpoint still bounds the log meanwhile. Said once
            # per run of failures, not ten times a second.
            if not self._failing:
                log.warning("checkpoint of %s failed, trying again: %s", self.path, exc)
            self._failing = True
            return
        if self._failing:
            log.info("checkpoint of %s works again", self.path)
        self._failing = False
        self.rounds += 1
        if row is not None and row[1] > 0:
            self.pages += int(row[1])


def database_path(url: str) -> Path | None:
    """The file of a SQLite URL; None for another database or an in-memory one."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)
