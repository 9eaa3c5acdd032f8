"""The per-app token bucket: pure arithmetic, the in-process limiter, and the Redis limiter
shared by two gateways."""

from __future__ import annotations

import secrets

import pytest
from redis.asyncio import Redis

from miniapps.ratelimit import BucketState, MemoryLimiter, RedisLimiter, retry_after, take


def test_a_bucket_starts_full_and_refills_at_the_rate() -> None:
    state = None
    waits = []
    for _ in range(4):
        state, wait = take(state, now=100.0, rate=2.0, burst=3.0)
        waits.append(wait)
    assert waits == [0.0, 0.0, 0.0, 0.5]
    state, wait = take(state, now=100.5, rate=2.0, burst=3.0)
    assert wait == 0.0
    assert state.tokens == pytest.approx(0.0)


def test_a_clock_stepping_back_gives_no_tokens() -> None:
    state, wait = take(BucketState(0.0, 50.0), now=10.0, rate=1.0, burst=5.0)
    assert (state, wait) == (BucketState(0.0, 50.0), 1.0)


def test_a_long_pause_refills_no_more_than_the_burst() -> None:
    state, _ = take(BucketState(0.0, 0.0), now=1e6, rate=10.0, burst=4.0)
    assert state.tokens == 3.0


@pytest.mark.parametrize(("wait", "seconds"), [(0.001, 1), (1.0, 1), (1.2, 2), (59.9, 60)])
def test_retry_after_rounds_up(wait: float, seconds: int) -> None:
    assert retry_after(wait) == seconds


async def test_memory_limiter_keeps_apps_apart_and_forgets_full_buckets() -> None:
    now = [0.0]
    limiter = MemoryLimiter(rate=1.0, burst=1.0, clock=lambda: now[0], max_keys=2)
    assert await limiter.check("a") == 0.0
    assert await limiter.check("a") == 1.0
    assert await limiter.check("b") == 0.0
    now[0] = 5.0
    assert await limiter.check("c") == 0.0
    assert len(limiter._buckets) == 1


async def test_redis_buckets_are_shared_by_gateways(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    prefix = f"townsquare:test:{secrets.token_hex(4)}:"
    try:
        one = RedisLimiter(client, rate=0.01, burst=3, prefix=prefix)
        two = RedisLimiter(client, rate=0.01, burst=3, prefix=prefix)
        waits = [await gateway.check("app_x") for gateway in (one, two, one, two)]
        assert waits[:3] == [0.0, 0.0, 0.0]
        assert 99 < waits[3] <= 100
        assert await one.check("app_y") == 0.0
        assert 0 < await client.pttl(prefix + "app_x") <= 301_000
    finally:
        await client.delete(prefix + "app_x", prefix + "app_y")
        await client.aclose()
