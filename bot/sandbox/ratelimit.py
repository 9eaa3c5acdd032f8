"""Telegram's flood limits for a bot's sends: about 30 a second overall, 20 a minute per group.

Token buckets (burst up to the limit, refilled evenly), matching how the gateway paces itself,
so a bot that paces like Telegram asks never sees a 429 and one that floods does.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Bucket:
    capacity: float
    refill_per_second: float
    tokens: float
    stamp: float

    def take(self, now: float) -> float:
        """Takes one token; returns 0, or the seconds until one would be available."""
        elapsed = max(0.0, now - self.stamp)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.refill_per_second)
        self.stamp = max(self.stamp, now)
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.refill_per_second


class RateLimiter:
    """Per-group and global send limits; a limit of 0 (or less) turns that limit off."""

    def __init__(
        self,
        *,
        chat_per_minute: float = 20.0,
        global_per_second: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.configure(chat_per_minute=chat_per_minute, global_per_second=global_per_second)

    def configure(self, *, chat_per_minute: float, global_per_second: float) -> None:
        """Changes the limits and forgets past sends (tests call this to tighten or relax)."""
        self.chat_per_minute = chat_per_minute
        self.global_per_second = global_per_second
        self._chats: dict[int | str, Bucket] = {}
        self._global = self._bucket(global_per_second, 1.0, self.clock())

    @staticmethod
    def _bucket(limit: float, per: float, now: float) -> Bucket:
        return Bucket(limit, limit / per if limit > 0 else 0.0, limit, now)

    def check(self, chat: int | str, *, group: bool) -> int | None:
        """Counts one send; returns None if allowed, else Telegram's `retry_after` seconds."""
        now = self.clock()
        if group and self.chat_per_minute > 0:
            bucket = self._chats.get(chat)
            if bucket is None:
                bucket = self._chats[chat] = self._bucket(self.chat_per_minute, 60.0, now)
            wait = bucket.take(now)
            if wait > 0:
                return max(1, math.ceil(wait))
        if self.global_per_second > 0:
            wait = self._global.take(now)
            if wait > 0:
                if group and self.chat_per_minute > 0:
                    # The group's token was spent on a send that did not happen: give it back.
                    self._chats[chat].tokens += 1
                return max(1, math.ceil(wait))
        return None
