"""Small helpers shared by the tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


async def wait_for(
    probe: Callable[[], Awaitable[Any]], *, what: str, timeout: float = 15.0, every: float = 0.05
) -> Any:
    """Polls `probe` until it returns something truthy; fails with `what` after `timeout`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await probe()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(every)
