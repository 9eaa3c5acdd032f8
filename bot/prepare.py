"""`python -m bot.prepare`: migrates the gateway's databases to the newest revision.

`townsquare sandbox` and `townsquare run` call `start` first thing. A SQLite file that is new
or already at the head needs no migration: `core.schema_snapshot` creates or checks it in a few
milliseconds, in this process. Any other database is migrated by a child process, so that the
migrations run on another core while the gateway process imports its code. The child only
imports Alembic and the models; the parent names the databases on its standard input, one URL
a line (not as arguments, which any local user can read, and a URL may carry a password).
"""

from __future__ import annotations

import subprocess
import sys

from core import schema_snapshot
from core.settings import Settings
from core.sqlite_checkpoint import database_path


def database_urls(settings: Settings) -> list[str]:
    """The gateway's database and, in sandbox mode on SQLite, the sandbox's own file."""
    urls = [settings.effective_database_url]
    if settings.is_sandbox:
        from bot.sandbox.app import sandbox_database_url

        sandbox_url = sandbox_database_url(settings)
        if sandbox_url not in urls:
            urls.append(sandbox_url)
    return urls


def at_head_without_migrating(url: str) -> bool:
    """True if `url` is a SQLite file that is at the head now: it was, or it was new and is
    created from the schema snapshot."""
    path = database_path(url)
    return path is not None and schema_snapshot.prepare(path)


def start(settings: Settings) -> subprocess.Popen[bytes] | None:
    """Starts the migrations that are needed in a child process (`None`: none are);
    `finish` waits for it."""
    urls = [url for url in database_urls(settings) if not at_head_without_migrating(url)]
    if not urls:
        return None
    child = subprocess.Popen([sys.executable, "-m", "bot.prepare"], stdin=subprocess.PIPE)
    assert child.stdin is not None
    with child.stdin as pipe:
        pipe.write("".join(f"{url}\n" for url in urls).encode())
    return child


def finish(child: subprocess.Popen[bytes] | None) -> None:
    """Waits for the child; raises `SystemExit` with its code if it failed (it said why)."""
    if child is not None and (code := child.wait()) != 0:
        raise SystemExit(code)


def main(urls: list[str]) -> None:
    from core.migrate import upgrade

    for url in urls:
        upgrade(url)


if __name__ == "__main__":
    main([line for line in sys.stdin.read().splitlines() if line])
