"""The one place every outgoing Bot API call passes: rate limits and Telegram's `retry_after`."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import Response, TelegramMethod

log = logging.getLogger(__name__)

# Methods that post into a chat count against Telegram's per-chat limits.
SENDING_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendSticker",
        "sendAnimation",
        "sendVideo",
        "sendAudio",
        "sendVoice",
        "sendPoll",
        "sendDice",
        "sendMediaGroup",
        "copyMessage",
        "forwardMessage",
    }
)


class TokenBucket:
    """Allows `rate` acquisitions per `per` seconds on average, bursting up to `rate`."""

    def __init__(self, rate: float, per: float) -> None:
        self.capacity = max(rate, 1.0)
        self.refill = rate / per
        self.tokens = self.capacity
        self.stamp = time.monotonic()
        self._lock = asyncio.Lock()

    def _delay(self) -> float:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.refill)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.refill

    async def acquire(self) -> None:
        async with self._lock:
            while (delay := self._delay()) > 0:
                await asyncio.sleep(delay)


class OutgoingLimiter(BaseRequestMiddleware):
    """Paces sends (global and per group) and, on a 429, waits `retry_after` and tries again."""

    def __init__(
        self,
        *,
        global_per_second: float = 30.0,
        chat_per_minute: float = 20.0,
        max_retries: int = 5,
    ) -> None:
        self._global = TokenBucket(global_per_second, 1.0)
        self._chat_per_minute = chat_per_minute
        self._chats: dict[int | str, TokenBucket] = {}
        self.max_retries = max_retries
        self.retries_honoured = 0

    def _chat_bucket(self, chat_id: int | str) -> TokenBucket:
        bucket = self._chats.get(chat_id)
        if bucket is None:
            bucket = self._chats[chat_id] = TokenBucket(self._chat_per_minute, 60.0)
        return bucket

    async def _pace(self, method: TelegramMethod[Any]) -> None:
        if method.__api_method__ not in SENDING_METHODS:
            return
        chat_id = getattr(method, "chat_id", None)
        # Private chats (positive ids) have no per-chat limit at Telegram.
        if isinstance(chat_id, int) and chat_id < 0 or isinstance(chat_id, str):
            await self._chat_bucket(chat_id).acquire()
        await self._global.acquire()

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[Any],
        bot: Bot,
        method: TelegramMethod[Any],
    ) -> Response[Any]:
        attempt = 0
        while True:
            await self._pace(method)
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                attempt += 1
                if attempt > self.max_retries:
                    raise
                self.retries_honoured += 1
                log.warning(
                    "%s hit Telegram's rate limit; retrying in %ss (attempt %d)",
                    method.__api_method__,
                    exc.retry_after,
                    attempt,
                )
                await asyncio.sleep(exc.retry_after)
