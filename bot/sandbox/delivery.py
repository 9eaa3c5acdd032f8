"""Webhook delivery: POSTs each bot's pending updates in order, retrying until a 2xx.

Like Telegram, an update is never dropped and never overtaken: a failure holds back the
bot's queue and is retried with a growing delay. An update is marked delivered only after
a 2xx, and one lock makes sure two deliveries never send the same update at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from sqlmodel import col, select

from bot.sandbox import state_updates
from core.models_sandbox import SandboxBot

if TYPE_CHECKING:
    from bot.sandbox.app import Sandbox

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@dataclass
class Backoff:
    delay: float
    next_at: float = 0.0


@dataclass(frozen=True)
class Target:
    bot_id: int
    url: str
    secret: str | None


class Delivery:
    """Delivers webhook updates in a background task or on demand (`deliver_pending`)."""

    def __init__(
        self,
        sandbox: Sandbox,
        *,
        retry_initial: float = 1.0,
        retry_max: float = 30.0,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.sandbox = sandbox
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.timeout = timeout
        self.transport = transport
        self.attempts = 0
        self._backoff: dict[int, Backoff] = {}
        self._lock = asyncio.Lock()
        self._client: httpx.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    def reset(self, bot_id: int) -> None:
        """Forgets the retry delay (a new webhook URL is tried at once)."""
        self._backoff.pop(bot_id, None)

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(transport=self.transport, timeout=self.timeout)
        return self._client

    async def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="sandbox-webhook-delivery")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _run(self) -> None:
        while True:
            signal = self.sandbox.signal()
            try:
                await self.deliver_all(force=False)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sandbox webhook delivery failed; trying again")
            await self.sandbox.wait_signal(signal, self._sleep_for())

    def _sleep_for(self) -> float:
        now = asyncio.get_running_loop().time()
        waits = [b.next_at - now for b in self._backoff.values() if b.next_at > now]
        return max(0.01, min([self.sandbox.poll_interval, *waits]))

    async def _targets(self) -> list[Target]:
        async def work(session: Any) -> list[Target]:
            rows = await session.exec(select(SandboxBot).where(col(SandboxBot.webhook_url) != ""))
            return [Target(b.id, b.webhook_url, b.webhook_secret) for b in rows.all()]

        return await self.sandbox.run(work)

    async def deliver_all(self, *, force: bool = True) -> int:
        """Delivers what is due (everything when `force`); returns how many got a 2xx."""
        delivered = 0
        for target in await self._targets():
            delivered += await self._deliver_bot(target, force=force)
        return delivered

    async def _deliver_bot(self, target: Target, *, force: bool) -> int:
        loop = asyncio.get_running_loop()
        backoff = self._backoff.get(target.bot_id)
        if backoff is not None and not force and loop.time() < backoff.next_at:
            return 0
        delivered = 0
        while True:
            async with self._lock:
                update = await self._next(target.bot_id)
                if update is None:
                    return delivered
                error = await self._post(target, update)
                if error is None:
                    await self._mark(target.bot_id, update["update_id"])
                    self._backoff.pop(target.bot_id, None)
                    delivered += 1
                    continue
            await self._failed(target, update["update_id"], error)
            return delivered

    async def _next(self, bot_id: int) -> dict[str, Any] | None:
        async def work(session: Any) -> dict[str, Any] | None:
            rows = await state_updates.pending_updates(session=session, bot_id=bot_id, limit=1)
            return rows[0].payload if rows else None

        return await self.sandbox.run(work)

    async def _post(self, target: Target, update: dict[str, Any]) -> str | None:
        """POSTs one update; returns None on a 2xx, else Telegram's wording of the failure."""
        headers = {"Content-Type": "application/json"}
        if target.secret:
            headers[SECRET_HEADER] = target.secret
        self.attempts += 1
        try:
            response = await self.client().post(
                target.url, content=json.dumps(update, ensure_ascii=False), headers=headers
            )
        except httpx.TimeoutException:
            return "Timeout expired"
        except httpx.HTTPError as exc:
            return f"Connection failed: {type(exc).__name__}"
        if 200 <= response.status_code < 300:
            return None
        return f"Wrong response from the webhook: {response.status_code} {response.reason_phrase}"

    async def _mark(self, bot_id: int, update_id: int) -> None:
        async def work(session: Any) -> None:
            await state_updates.mark_delivered(session=session, bot_id=bot_id, update_id=update_id)

        await self.sandbox.run(work)

    async def _failed(self, target: Target, update_id: int, error: str) -> None:
        log.info("webhook delivery of update %s to %s failed: %s", update_id, target.url, error)

        async def work(session: Any) -> None:
            await state_updates.record_delivery_error(
                session=session, bot_id=target.bot_id, update_id=update_id, message=error
            )

        await self.sandbox.run(work)
        previous = self._backoff.get(target.bot_id)
        delay = self.retry_initial if previous is None else min(previous.delay * 2, self.retry_max)
        self._backoff[target.bot_id] = Backoff(delay, asyncio.get_running_loop().time() + delay)
