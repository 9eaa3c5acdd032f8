"""`townsquare sandbox` as a user starts it: a new process on a new data directory.

Once `/healthz` says 200 the whole gateway serves: the web chat, the sandbox's Bot API, and
the bot behind its webhook, which answers a `/start` sent right away.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from bot import prepare
from core.migrate import revisions, upgrade
from core.settings import SANDBOX_BOT_TOKEN, Settings
from tests.conftest import free_port
from tests.tests_support import wait_for

TOWNSQUARE = Path(sys.executable).parent / "townsquare"


@dataclass
class SandboxProcess:
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[SandboxProcess]:
    port = free_port()
    env = {**os.environ, "TOWNSQUARE_DATA_DIR": str(tmp_path)}
    env.pop("TOWNSQUARE_MODE", None)
    log = tmp_path / "sandbox.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(TOWNSQUARE), "sandbox", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            yield SandboxProcess(process, f"http://127.0.0.1:{port}", log)
        finally:
            process.terminate()
            await asyncio.to_thread(process.wait, 30)


async def healthy(sandbox: SandboxProcess, http: httpx.AsyncClient) -> bool:
    """True once `/healthz` answers 200; until then only 503 or no answer at all is allowed."""
    if sandbox.process.poll() is not None:
        code = sandbox.process.returncode
        raise AssertionError(f"townsquare sandbox exited with {code}:\n{sandbox.output()}")
    try:
        response = await http.get("/healthz")
    except httpx.TransportError:
        return False
    assert response.status_code in (200, 503), response.text
    return response.status_code == 200


async def test_sandbox_command_serves_web_chat_and_bot(sandbox: SandboxProcess) -> None:
    process, base = sandbox.process, sandbox.base_url
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        await wait_for(lambda: healthy(sandbox, http), what="healthz 200", timeout=90)
        # At once, with no waiting for anything else: the bot must be there.
        ann = (await http.post("/sandbox/ui/users", json={"first_name": "Ann"})).json()
        chat = (await http.post(f"/sandbox/ui/users/{ann['id']}/private")).json()
        sent = await http.post(
            f"/sandbox/ui/chats/{chat['id']}/messages",
            json={"from_id": ann["id"], "text": "/start"},
        )
        assert sent.status_code == 200, sent.text

        page = await http.get("/")
        assert page.status_code == 200
        assert "<title>Townsquare sandbox</title>" in page.text
        # The Bot API is served, and already has the bot's webhook: healthz waits for it.
        info = (await http.get(f"/sandbox/bot{SANDBOX_BOT_TOKEN}/getWebhookInfo")).json()
        assert info["ok"], info
        assert info["result"]["url"] == f"{base}/telegram/webhook"

        bot_id = (await http.get("/sandbox/ui/bot")).json()["id"]

        async def reply() -> str | None:
            messages = (await http.get(f"/sandbox/ui/chats/{chat['id']}/messages")).json()
            texts = [m["text"] for m in messages if m.get("from", {}).get("id") == bot_id]
            return texts[0] if texts else None

        hello = await wait_for(reply, what="the bot's answer to /start")
        assert hello.startswith("Hello, Ann!")

    # A clean stop on SIGTERM: uvicorn shuts the gateway down, then exits by that signal.
    process.terminate()
    assert await asyncio.to_thread(process.wait, 30) == -signal.SIGTERM
    assert "Traceback" not in sandbox.output(), sandbox.output()


async def test_migrations_child_migrates_and_reports_failure(tmp_path: Path) -> None:
    # New SQLite files need no child: they are created at the head from the schema snapshot.
    settings = Settings(mode="sandbox", data_dir=tmp_path / "new")
    assert prepare.start(settings) is None
    for url in prepare.database_urls(settings):
        assert await asyncio.to_thread(revision_of, url) == revisions()[-1]
    assert prepare.start(settings) is None  # and at the head, they need nothing

    older = Settings(mode="sandbox", data_dir=tmp_path / "older")
    for url in prepare.database_urls(older):
        await asyncio.to_thread(upgrade, url, revisions()[-2])
    child = prepare.start(older)
    assert child is not None
    await asyncio.to_thread(prepare.finish, child)
    for url in prepare.database_urls(older):
        assert await asyncio.to_thread(revision_of, url) == revisions()[-1]

    unreachable = Settings(
        mode="sandbox", data_dir=tmp_path, database_url="postgresql+asyncpg://u@127.0.0.1:1/x"
    )
    with pytest.raises(SystemExit) as failed:
        await asyncio.to_thread(prepare.finish, prepare.start(unreachable))
    assert failed.value.code != 0


def revision_of(url: str) -> str | None:
    engine = create_engine(url.replace("+aiosqlite", ""))
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
