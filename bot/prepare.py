"""`python -m bot.prepare`: migrates the gateway's databases to the newest revision.

`townsquare sandbox` and `townsquare run` start this as a child process first thing, so that
the migrations run on another core while the gateway process imports its code. The child only
imports Alembic and the models; the parent names the databases on its standard input, one URL
a line (not as arguments, which any local user can read, and a URL may carry a password).
"""

from __future__ import annotations

import subprocess
import sys

from core.settings import Settings


def database_urls(settings: Settings) -> list[str]:
    """The gateway's database and, in sandbox mode on SQLite, the sandbox's own file."""
    urls = [settings.effective_database_url]
    if settings.is_sandbox:
        from bot.sandbox.app import sandbox_database_url

        sandbox_url = sandbox_database_url(settings)
        if sandbox_url not in urls:
            urls.append(sandbox_url)
    return urls


def start(settings: Settings) -> subprocess.Popen[bytes]:
    """Starts the migrations in a child process; `finish` waits for it."""
    child = subprocess.Popen([sys.executable, "-m", "bot.prepare"], stdin=subprocess.PIPE)
    assert child.stdin is not None
    with child.stdin as urls:
        urls.write("".join(f"{url}\n" for url in database_urls(settings)).encode())
    return child


def finish(child: subprocess.Popen[bytes]) -> None:
    """Waits for the child; raises `SystemExit` with its code if it failed (it said why)."""
    if (code := child.wait()) != 0:
        raise SystemExit(code)


def main(urls: list[str]) -> None:
    from core.migrate import upgrade

    for url in urls:
        upgrade(url)


if __name__ == "__main__":
    main([line for line in sys.stdin.read().splitlines() if line])
