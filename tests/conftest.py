"""Shared fixtures: databases (SQLite and PostgreSQL), Redis, and a whole running gateway."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from core.settings import Settings
from tests.dbpool import PostgresPool, copy_sqlite, execute, run_async, sqlite_template

POSTGRES_ADMIN_DSN = os.environ.get(
    "TOWNSQUARE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_TEST_URL = os.environ.get("TOWNSQUARE_TEST_REDIS", "redis://127.0.0.1:6379/0")
SERVICES_REQUIRED = os.environ.get("TOWNSQUARE_REQUIRE_SERVICES") == "1"
# Every sandbox gateway a test starts would bring up anvil and LiteSVM and deploy the demo token:
# only tests marked `sandbox_chains` get them (see `wants_chains`).
os.environ["TOWNSQUARE_SANDBOX_CHAINS"] = "false"


def wants_chains(request: pytest.FixtureRequest) -> bool:
    """Whether the test asked for the sandbox's demo chains with `@pytest.mark.sandbox_chains`."""
    return request.node.get_closest_marker("sandbox_chains") is not None


def unavailable(what: str, why: object) -> None:
    """Skips a test whose server is missing, unless CI demands the server."""
    message = f"{what} is not available: {why}"
    if SERVICES_REQUIRED:
        pytest.fail(message + " (TOWNSQUARE_REQUIRE_SERVICES=1)")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pg_execute(statement: str) -> None:
    """Runs one administrative statement on the PostgreSQL server, outside any event loop."""
    run_async(lambda: execute(POSTGRES_ADMIN_DSN, statement))


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's SQLite file at the head revision, copied for each test that wants one."""
    from core.migrate import upgrade

    return sqlite_template(tmp_path_factory.mktemp("sqlite-template"), upgrade)


@pytest.fixture(scope="session")
def postgres_pool() -> Iterator[PostgresPool | None]:
    """Migrated PostgreSQL databases lent to tests; None when the server is not there."""
    from core.migrate import upgrade

    pool = PostgresPool(POSTGRES_ADMIN_DSN, upgrade)
    try:
        pool.start()
    except (TimeoutError, OSError) as exc:
        POSTGRES_DOWN.append(str(exc))
        yield None
        return
    try:
        yield pool
    finally:
        pool.close()


# Why the pool could not start, for the tests that then skip (or fail under CI).
POSTGRES_DOWN: list[str] = []


@pytest.fixture
def sqlite_url(tmp_path: Path, migrated_sqlite: Path) -> str:
    """A SQLite database at the head revision, for one test."""
    return copy_sqlite(migrated_sqlite, tmp_path / "townsquare.db")


@pytest.fixture
def postgres_url(postgres_pool: PostgresPool | None) -> Iterator[str]:
    """A PostgreSQL database at the head revision with no rows, for one test."""
    if postgres_pool is None:
        unavailable("PostgreSQL", "; ".join(POSTGRES_DOWN))
        raise AssertionError("unreachable")
    url = postgres_pool.acquire()
    yield url
    postgres_pool.release(url)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Runs the test once on SQLite and once on PostgreSQL, each at the head revision."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def empty_sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"


@pytest.fixture
def empty_postgres_url() -> Iterator[str]:
    """A new PostgreSQL database with no schema at all, dropped afterwards."""
    name = f"townsquare_t_{secrets.token_hex(6)}"
    try:
        pg_execute(f'CREATE DATABASE "{name}"')
    except (TimeoutError, OSError) as exc:
        unavailable("PostgreSQL", exc)
    base = POSTGRES_ADMIN_DSN.rsplit("/", 1)[0]
    yield f"postgresql+asyncpg://{base.split('://', 1)[1]}/{name}"
    pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database_url(request: pytest.FixtureRequest) -> str:
    """An empty database (no schema), once on SQLite and once on PostgreSQL."""
    fixture = "empty_sqlite_url" if request.param == "sqlite" else "empty_postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_TEST_URL)
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        unavailable("Redis", exc)
    await client.aclose()
    yield REDIS_TEST_URL


@dataclass
class RunningGateway:
    app: FastAPI
    settings: Settings
    base_url: str

    @property
    def gateway(self) -> Any:
        return self.app.state.gateway

    @property
    def sandbox(self) -> Any:
        return self.gateway.sandbox


async def start_gateway(settings: Settings) -> tuple[RunningGateway, Any, asyncio.Task[None]]:
    import uvicorn

    from bot.gateway import create_app
    from core.migrate import upgrade

    await asyncio.to_thread(upgrade, settings.effective_database_url)
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    return RunningGateway(app, settings, f"http://{settings.host}:{settings.port}"), server, task


@pytest.fixture
def gateway_settings(tmp_path: Path, sqlite_url: str, request: pytest.FixtureRequest) -> Settings:
    return Settings(
        mode="sandbox",
        data_dir=tmp_path,
        database_url=sqlite_url,
        port=free_port(),
        rate_chat_per_minute=600,
        rate_global_per_second=300,
        sandbox_chains=wants_chains(request),
    )


@pytest.fixture
async def gateway(gateway_settings: Settings) -> AsyncIterator[RunningGateway]:
    """The whole gateway serving on a free loopback port, sandbox included, webhook registered."""
    running, server, task = await start_gateway(gateway_settings)
    try:
        yield running
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=15)
