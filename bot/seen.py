"""A fast 'already handled?' cache in front of the durable `processed_updates` key.

The cache only saves work; the database's unique key is what guarantees at-most-once handling.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # Redis is imported only by gateways that are given one
    from redis.asyncio import Redis


class SeenCache(Protocol):
    async def seen(self, key: str) -> bool: ...

    async def add(self, key: str) -> None: ...


class MemorySeenCache:
    """A bounded in-process set, oldest keys evicted first."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity

    async def seen(self, key: str) -> bool:
        return key in self._keys

    async def add(self, key: str) -> None:
        self._keys[key] = None
        if len(self._keys) > self._capacity:
            self._keys.popitem(last=False)


class RedisSeenCache:
    """Shared across gateway processes; entries expire after a day (Telegram retries for less)."""

    def __init__(self, redis: Redis, *, prefix: str = "townsquare:seen:", ttl: int = 86_400):
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl

    async def seen(self, key: str) -> bool:
        return bool(await self._redis.exists(self._prefix + key))

    async def add(self, key: str) -> None:
        await self._redis.set(self._prefix + key, b"1", ex=self._ttl)
