"""A loopback load generator: `python -m benchmarks.load URL START COUNT CONCURRENCY`.

Posts COUNT distinct group-message updates to the webhook and prints updates per second.
It runs as its own process so that its CPU time is not the gateway's.
"""

from __future__ import annotations

import asyncio
import sys
import time

import aiohttp
import orjson

from benchmarks.serve_gateway import SECRET

CHAT = {"id": -1009000000001, "type": "supergroup", "title": "Bench"}


def body(update_id: int) -> bytes:
    user = 10_000 + update_id % 500
    return orjson.dumps(
        {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": 1_760_000_000 + update_id // 100,
                "chat": CHAT,
                "from": {"id": user, "is_bot": False, "first_name": f"Member {user}"},
                "text": f"message number {update_id} with some words in it",
            },
        }
    )


async def run(url: str, start: int, count: int, concurrency: int) -> float:
    bodies = [body(start + i) for i in range(count)]
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
    queue = iter(bodies)
    failures = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal failures
        for payload in queue:
            async with session.post(url, data=payload, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    failures += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    if failures:
        msg = f"{failures} of {count} updates were not acknowledged"
        raise SystemExit(msg)
    return count / elapsed


if __name__ == "__main__":
    url, start, count, conc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    print(f"{asyncio.run(run(url, start, count, conc)):.1f}")
