"""Fixtures for the sandbox tests: a temporary SQLite database, the sandbox mounted on a bare
FastAPI app, an ASGI client, and helpers to call the Bot API and act as users."""

from __future__ import annotations

import asyncio
import shutil
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy
import uvicorn
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

import core.models
import core.models_sandbox  # noqa: F401  (registers the tables for create_all)
from bot.sandbox.app import Sandbox, mount_sandbox
from core.db import create_engine, session_factory, transaction
from core.settings import SANDBOX_BOT_TOKEN, Settings

TOKEN = SANDBOX_BOT_TOKEN
BOT_ID = int(TOKEN.split(":")[0])
# `@BOTH_DATABASES` runs a test on SQLite and on PostgreSQL (skipped when no server answers).
BOTH_DATABASES = pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)


@pytest.fixture(scope="session")
def schema_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty database with every table, made once and copied for each test (it is faster)."""
    path = tmp_path_factory.mktemp("schema") / "schema.db"
    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    SQLModel.metadata.create_all(engine)
    engine.dispose()
    return path


@pytest.fixture
def backend() -> str:
    """The database under the sandbox; tests parametrize it to run on PostgreSQL too."""
    return "sqlite"


@pytest.fixture
async def sessions(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path, schema_file: Path
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    if backend == "postgres":
        engine = create_engine(str(request.getfixturevalue("postgres_url")))
        async with engine.begin() as conn:
            await conn.run_sync(SQLModel.metadata.create_all)
    else:
        shutil.copyfile(schema_file, tmp_path / "t.db")
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/t.db")
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
def settings() -> Settings:
    return Settings(_env_file=None, mode="sandbox")  # type: ignore[call-arg]


@pytest.fixture
def sandbox_options() -> dict[str, Any]:
    """Overridden by tests that want other limits or retry delays."""
    return {"rate_limits": False, "retry_initial": 0.05, "retry_max": 0.2, "poll_interval": 0.05}


@pytest.fixture
async def app_and_sandbox(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    sandbox_options: dict[str, Any],
) -> AsyncIterator[tuple[FastAPI, Sandbox]]:
    app = FastAPI()
    sandbox = mount_sandbox(app, sessions=sessions, settings=settings, **sandbox_options)
    await sandbox.ensure_bot(TOKEN)
    yield app, sandbox
    await sandbox.stop()


@pytest.fixture
def sandbox(app_and_sandbox: tuple[FastAPI, Sandbox]) -> Sandbox:
    return app_and_sandbox[1]


@pytest.fixture
async def client(app_and_sandbox: tuple[FastAPI, Sandbox]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app_and_sandbox[0])
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox.test") as http:
        yield http


Call = Callable[..., Awaitable[httpx.Response]]


@pytest.fixture
def raw(client: httpx.AsyncClient) -> Call:
    """POSTs a Bot API method as JSON and returns the HTTP response."""

    async def call(method: str, token: str = TOKEN, **params: Any) -> httpx.Response:
        return await client.post(f"/sandbox/bot{token}/{method}", json=params)

    return call


@pytest.fixture
def api(raw: Call) -> Callable[..., Awaitable[Any]]:
    """Calls a Bot API method that must succeed and returns its `result`."""

    async def call(method: str, **params: Any) -> Any:
        response = await raw(method, **params)
        body = response.json()
        assert response.status_code == 200 and body["ok"] is True, body
        return body["result"]

    return call


Act = Callable[..., Awaitable[Any]]


@pytest.fixture
def act(sessions: async_sessionmaker[AsyncSession]) -> Act:
    """Runs one state helper in its own committed transaction: `await act(state.x, ...)`."""

    async def run(helper: Callable[..., Awaitable[Any]], **kwargs: Any) -> Any:
        async with transaction(sessions) as session:
            return await helper(session=session, **kwargs)

    return run


@pytest.fixture
async def world(act: Act, sandbox: Sandbox) -> dict[str, Any]:
    """Alice owns a supergroup where Bob is a member and the bot an administrator."""
    from bot.sandbox import state

    alice = await act(state.create_user, first_name="Alice", username="alice")
    bob = await act(state.create_user, first_name="Bob", username="bob")
    group = await act(state.create_group, title="Town", creator_id=alice["id"])
    await act(state.add_member, chat_id=group["id"], user_id=bob["id"], by_user_id=alice["id"])
    await act(state.add_bot, chat_id=group["id"], by_user_id=alice["id"], admin=True)
    return {"alice": alice, "bob": bob, "group": group}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def serve(
    app: FastAPI, port: int | None = None
) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    """Serves `app` with uvicorn on a (free) loopback port, in this event loop."""
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    return server, task, f"http://127.0.0.1:{port}"


async def shutdown(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    server.should_exit = True
    await asyncio.wait_for(task, 10)


@pytest.fixture
async def live(app_and_sandbox: tuple[FastAPI, Sandbox]) -> AsyncIterator[str]:
    """The sandbox served over real HTTP; yields its base URL."""
    server, task, base = await serve(app_and_sandbox[0])
    yield base
    await shutdown(server, task)
