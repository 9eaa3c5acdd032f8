"""`POST /telegram/webhook` with the full middleware stack, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bot.gateway import create_app
from core.migrate import upgrade
from core.models import ChatMessage, Member, Membership, ProcessedUpdate
from core.settings import Settings

SECRET = "webhook-test-secret"
GROUP = {"id": -1001234, "type": "supergroup", "title": "Test group"}


def group_message(
    update_id: int,
    *,
    user_id: int = 501,
    message_id: int | None = None,
    text: str = "hello everyone",
) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": message_id or update_id,
            "date": 1_760_000_000,
            "chat": GROUP,
            "from": {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"},
            "text": text,
        },
    }


@pytest.fixture
def webhook_settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        mode="sandbox",
        data_dir=tmp_path,
        database_url=database_url,
        webhook_secret=SECRET,
        sqlite_busy_timeout_ms=200,
    )


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway app on an in-process transport (no lifespan: no sandbox delivery, no bot)."""
    await asyncio.to_thread(upgrade, settings.effective_database_url)
    app = create_app(settings, register=False)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            http.app = app  # type: ignore[attr-defined]
            yield http
    finally:
        await app.state.gateway.engine.dispose()


@pytest.fixture
async def client(webhook_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(webhook_settings) as http:
        yield http


async def post(
    client: httpx.AsyncClient, body: Any, *, secret: str | None = SECRET, raw: bytes | None = None
) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    if raw is not None:
        return await client.post("/telegram/webhook", content=raw, headers=headers)
    return await client.post("/telegram/webhook", json=body, headers=headers)


async def count(client: httpx.AsyncClient, model: Any) -> int:
    sessions = client.app.state.gateway.sessions  # type: ignore[attr-defined]
    async with sessions() as session:
        return int((await session.exec(select(func.count()).select_from(model))).one()[0])


async def test_group_message_is_recorded_once(client: httpx.AsyncClient) -> None:
    update = group_message(1)
    for _ in range(3):
        response = await post(client, update)
        assert response.status_code == 200
    assert await count(client, ChatMessage) == 1
    assert await count(client, ProcessedUpdate) == 1
    assert await count(client, Member) == 1
    assert await count(client, Membership) == 1


async def test_replays_in_any_order_count_once(client: httpx.AsyncClient) -> None:
    updates = [group_message(i, user_id=500 + i % 3) for i in range(10, 20)]
    for update in [*updates, *reversed(updates), updates[3], updates[7]]:
        assert (await post(client, update)).status_code == 200
    assert await count(client, ChatMessage) == 10
    assert await count(client, Member) == 3


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", SECRET + "x"])
async def test_missing_or_wrong_secret_is_refused(
    client: httpx.AsyncClient, secret: str | None
) -> None:
    response = await post(client, group_message(2), secret=secret)
    assert response.status_code == 403
    assert await count(client, ProcessedUpdate) == 0


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"",
        b"[]",
        b'"text"',
        b'{"message": {}}',
        b'{"update_id": "abc"}',
        b'{"update_id": 5, "message": {"message_id": 1}}',
    ],
)
async def test_malformed_bodies_get_400(
    client: httpx.AsyncClient, raw: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    response = await post(client, None, raw=raw)
    assert response.status_code == 400
    assert "malformed" in caplog.text
    assert await count(client, ProcessedUpdate) == 0


async def test_oversized_body_is_refused(client: httpx.AsyncClient) -> None:
    response = await post(client, None, raw=b" " * 1_100_000)
    assert response.status_code == 413


async def test_unknown_update_type_is_acknowledged(client: httpx.AsyncClient) -> None:
    # aiogram warns of a kind it does not know (a newer Bot API); the update is still marked.
    with pytest.warns(RuntimeWarning, match="unknown update type"):
        response = await post(client, {"update_id": 77, "brand_new_kind": {"x": 1}})
    assert response.status_code == 200
    assert await count(client, ProcessedUpdate) == 1
    assert await count(client, ChatMessage) == 0


async def test_health_and_openapi(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).status_code == 200
    spec = (await client.get("/openapi.json")).json()
    assert "/telegram/webhook" in spec["paths"]


async def test_locked_sqlite_leaves_update_for_retry(sqlite_url: str, tmp_path: Path) -> None:
    """While SQLite cannot be written, the update is not acknowledged; the retry counts once."""
    settings = Settings(
        mode="sandbox",
        data_dir=tmp_path,
        database_url=sqlite_url,
        webhook_secret=SECRET,
        sqlite_busy_timeout_ms=200,
    )
    async with serving(settings) as http:
        blocker = sqlite3.connect(sqlite_url.split("///", 1)[1], timeout=0.1)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            assert (await post(http, group_message(30))).status_code == 503
        finally:
            blocker.rollback()
            blocker.close()
        assert await count(http, ProcessedUpdate) == 0
        assert (await post(http, group_message(30))).status_code == 200
        assert (await post(http, group_message(30))).status_code == 200
        assert await count(http, ChatMessage) == 1


class SwitchableProxy:
    """A loopback TCP proxy in front of PostgreSQL that can drop every connection on demand."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.up = True
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    def down(self) -> None:
        self.up = False
        for writer in self.writers:
            writer.close()
        self.writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def stop(self) -> None:
        self.down()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def test_unreachable_postgres_leaves_update_for_retry(
    postgres_url: str, tmp_path: Path
) -> None:
    """PostgreSQL drops away mid-stream: 503 and nothing recorded; once back, the retry lands."""
    await asyncio.to_thread(upgrade, postgres_url)
    proxy = SwitchableProxy(5432)
    port = await proxy.start()
    proxied = postgres_url.replace("127.0.0.1:5432", f"127.0.0.1:{port}")
    settings = Settings(
        mode="sandbox", data_dir=tmp_path, database_url=proxied, webhook_secret=SECRET
    )
    try:
        async with serving(settings) as http:
            assert (await post(http, group_message(40))).status_code == 200
            proxy.down()
            assert (await post(http, group_message(41))).status_code == 503
            assert (await http.get("/healthz")).status_code == 503
            proxy.up = True
            assert (await post(http, group_message(41))).status_code == 200
            assert (await post(http, group_message(41))).status_code == 200
            assert await count(http, ChatMessage) == 2
            assert await count(http, ProcessedUpdate) == 2
    finally:
        await proxy.stop()


async def test_profile_changes_reach_the_members_table(client: httpx.AsyncClient) -> None:
    """Unchanged profiles are not rewritten per message, but a change always lands."""
    first = group_message(60, user_id=900)
    renamed = group_message(61, user_id=900)
    renamed["message"]["from"]["first_name"] = "Renamed"
    renamed["message"]["from"]["username"] = "renamed_user"
    for update in (first, group_message(62, user_id=900), renamed):
        assert (await post(client, update)).status_code == 200
    sessions = client.app.state.gateway.sessions  # type: ignore[attr-defined]
    async with sessions() as session:
        member = await session.get(Member, 900)
    assert member is not None
    assert (member.first_name, member.username) == ("Renamed", "renamed_user")
