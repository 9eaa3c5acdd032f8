"""The sandbox as a whole: `mount_sandbox(app, ...)` adds the Bot API and the web chat.

sandbox = mount_sandbox(app, sessions=sessions, settings=settings)
await sandbox.ensure_bot(token)
await sandbox.start()        # webhook delivery in the background
...
await sandbox.deliver_pending()
await sandbox.wait_idle(5)
await sandbox.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
from fastapi import FastAPI
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.routes import add_routes
from bot.sandbox import state
from bot.sandbox.botapi import create_botapi_router
from bot.sandbox.delivery import Delivery
from bot.sandbox.errors import SandboxError
from bot.sandbox.ratelimit import RateLimiter
from bot.sandbox.state_core import WAKERS
from bot.sandbox.webchat import create_webchat_router
from core.db import transaction
from core.models_sandbox import SandboxUpdate
from core.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")
LOCK_RETRIES = 3


class Sandbox:
    """The sandbox's running parts: transactions, rate limits, long polls, webhook delivery."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        rate_limits: bool = True,
        retry_initial: float = 1.0,
        retry_max: float = 30.0,
        poll_interval: float = 0.25,
        webhook_timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.poll_interval = poll_interval
        self.limiter = RateLimiter(
            chat_per_minute=settings.rate_chat_per_minute if rate_limits else 0,
            global_per_second=settings.rate_global_per_second if rate_limits else 0,
        )
        self.delivery = Delivery(
            self,
            retry_initial=retry_initial,
            retry_max=retry_max,
            timeout=webhook_timeout,
            transport=transport,
        )
        self.poll_generation: dict[int, int] = {}
        self.chat_actions: dict[int, tuple[str, float]] = {}
        self._signal = asyncio.Event()
        self._write_lock = asyncio.Lock()
        WAKERS.add(self)

    @property
    def default_token(self) -> str:
        return self.settings.bot_token.get_secret_value()

    async def run(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Runs `work` in one transaction; sandbox writes are serialised in this process,
        and a SQLite lock held by another writer is waited out a few times."""
        for attempt in range(LOCK_RETRIES):
            try:
                async with self._write_lock, transaction(self.sessions) as session:
                    return await work(session)
            except OperationalError as exc:
                if "locked" not in str(exc).lower() or attempt == LOCK_RETRIES - 1:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    async def act(self, helper: Callable[..., Awaitable[T]], **kwargs: Any) -> T:
        """Runs one state helper in its own transaction on the sandbox's database:
        `await sandbox.act(state.send_message, chat_id=c, from_id=u, text="/start")`."""

        async def work(session: AsyncSession) -> T:
            return await helper(session=session, **kwargs)

        return await self.run(work)

    def signal(self) -> asyncio.Event:
        """The event the next `wake()` sets; take it before looking, then wait on it."""
        return self._signal

    def wake(self) -> None:
        current, self._signal = self._signal, asyncio.Event()
        current.set()

    async def wait_signal(self, signal: asyncio.Event, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(signal.wait(), timeout)

    async def ensure_bot(self, token: str | None = None) -> dict[str, Any]:
        """Registers the bot behind `token` (default: the settings' token); returns its User."""

        async def work(session: AsyncSession) -> dict[str, Any]:
            return await state.ensure_bot(session=session, token=token or self.default_token)

        return await self.run(work)

    async def authorize(self, token: str) -> int:
        """The bot id owning `token`; the settings' own token registers itself on first use."""

        async def work(session: AsyncSession) -> int | None:
            bot = await state.bot_by_token(session=session, token=token)
            return bot.id if bot is not None else None

        bot_id = await self.run(work)
        if bot_id is None and token == self.default_token:
            bot_id = int((await self.ensure_bot(token))["id"])
        if bot_id is None:
            raise SandboxError("Unauthorized", 401)
        return bot_id

    async def start(self) -> None:
        """Registers the settings' bot and starts webhook delivery in the background."""
        WAKERS.add(self)
        await self.ensure_bot()
        await self.delivery.start()

    async def stop(self) -> None:
        await self.delivery.stop()
        WAKERS.discard(self)

    async def deliver_pending(self) -> int:
        """Delivers every pending webhook update now, in order; returns how many got a 2xx."""
        return await self.delivery.deliver_all(force=True)

    async def pending(self) -> int:
        """Updates not yet delivered (webhook) or confirmed (getUpdates), for all bots."""

        async def work(session: AsyncSession) -> int:
            query = select(func.count()).where(col(SandboxUpdate.confirmed_at).is_(None))
            return int((await session.exec(query)).one())

        return await self.run(work)

    async def wait_idle(self, timeout: float = 10.0) -> None:
        """Waits until no update is pending and no delivery is under way."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            left = await self.pending()
            if left == 0 and not self.delivery.busy:
                return
            if loop.time() >= deadline:
                msg = f"sandbox not idle after {timeout}s: {left} updates pending"
                raise TimeoutError(msg)
            await asyncio.sleep(0.02)


def sandbox_database_url(settings: Settings) -> str:
    """Where the sandbox can keep its state apart from the gateway's SQLite file.

    A SQLite file has one writer at a time, and the gateway holds its write transaction while
    its handlers call the Bot API; a sandbox writing to that same file then waits for a lock
    that is only released after it answers. On PostgreSQL the gateway's database is fine.
    """
    url = settings.effective_database_url
    if make_url(url).get_backend_name() != "sqlite":
        return url
    return f"sqlite+aiosqlite:///{(settings.data_dir / 'sandbox.db').as_posix()}"


def mount_sandbox(
    app: FastAPI,
    *,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    rate_limits: bool = True,
    retry_initial: float = 1.0,
    retry_max: float = 30.0,
    poll_interval: float = 0.25,
    webhook_timeout: float = 30.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Sandbox:
    """Adds the Bot API (`/sandbox/bot{token}/{method}`), its file endpoint, the web chat
    page (`GET /`) and its JSON API (`/sandbox/ui/...`) to `app`."""
    sandbox = Sandbox(
        sessions=sessions,
        settings=settings,
        rate_limits=rate_limits,
        retry_initial=retry_initial,
        retry_max=retry_max,
        poll_interval=poll_interval,
        webhook_timeout=webhook_timeout,
        transport=transport,
    )
    bind = sessions.kw.get("bind")
    url = make_url(settings.effective_database_url)
    if bind is not None and bind.url == url and url.get_backend_name() == "sqlite":
        log.warning(
            "the sandbox shares the gateway's SQLite file: a handler that calls the Bot API "
            "inside its write transaction will wait on itself; see sandbox_database_url()"
        )
    add_routes(app, create_botapi_router(sandbox))
    add_routes(app, create_webchat_router(sandbox))
    app.state.sandbox = sandbox
    return sandbox
