"""Per-app rate limits on the builder API: a token bucket per app id, answered with 429.

Each app may make `rate` calls a second on average and `burst` at once. The bucket lives in
process by default; with Redis (`TOWNSQUARE_REDIS_URL`) it lives in Redis, updated by one Lua
script with Redis' own clock, so several gateways behind one address share each app's budget.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # Redis is imported only by gateways that are given one
    from redis.asyncio import Redis


@dataclass(frozen=True, slots=True)
class BucketState:
    tokens: float
    stamp: float


def take(
    state: BucketState | None, *, now: float, rate: float, burst: float
) -> tuple[BucketState, float]:
    """One call against a bucket: the new state, and 0 or the seconds until a call may pass.

    A missing bucket starts full. The clock may step back (another gateway's clock, or a
    monotonic clock after a restart): time never flows backwards into extra tokens.
    """
    if state is None:
        state = BucketState(burst, now)
    tokens = min(burst, state.tokens + max(0.0, now - state.stamp) * rate)
    stamp = max(state.stamp, now)
    if tokens >= 1:
        return BucketState(tokens - 1, stamp), 0.0
    return BucketState(tokens, stamp), (1 - tokens) / rate


def retry_after(wait: float) -> int:
    """`Retry-After` is whole seconds; rounding up never invites a call that fails again."""
    return max(1, math.ceil(wait))


class Limiter(Protocol):
    async def check(self, key: str) -> float:
        """Counts one call for `key`; 0 when it may pass, else the seconds to wait."""


class MemoryLimiter:
    """Buckets in this process (one gateway). Unused buckets are full again after
    `burst / rate` seconds, so they are dropped once the table grows past `max_keys`."""

    def __init__(
        self,
        *,
        rate: float,
        burst: float,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        self.rate, self.burst, self.clock, self.max_keys = rate, burst, clock, max_keys
        self._buckets: dict[str, BucketState] = {}

    async def check(self, key: str) -> float:
        now = self.clock()
        if len(self._buckets) >= self.max_keys:
            full = now - self.burst / self.rate
            self._buckets = {k: s for k, s in self._buckets.items() if s.stamp > full}
        state, wait = take(self._buckets.get(key), now=now, rate=self.rate, burst=self.burst)
        self._buckets[key] = state
        return wait


# The same arithmetic as `take`, atomically in Redis. KEYS[1]: the bucket; ARGV: rate, burst.
_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local saved = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(saved[1]) or burst
local stamp = tonumber(saved[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate)
stamp = math.max(stamp, now)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(stamp))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""


class RedisLimiter:
    """Buckets in Redis, shared by every gateway that uses the same Redis and prefix."""

    def __init__(
        self, redis: Redis, *, rate: float, burst: float, prefix: str = "townsquare:rate:"
    ) -> None:
        self.redis, self.rate, self.burst, self.prefix = redis, rate, burst, prefix
        self._script = redis.register_script(_SCRIPT)

    async def check(self, key: str) -> float:
        answer = await self._script(keys=[self.prefix + key], args=[self.rate, self.burst])
        return float(answer.decode() if isinstance(answer, bytes) else answer)


def create_limiter(redis: Redis | None, *, rate: float, burst: float) -> Limiter:
    if redis is not None:
        return RedisLimiter(redis, rate=rate, burst=burst)
    return MemoryLimiter(rate=rate, burst=burst)
