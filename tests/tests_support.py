"""Small helpers shared by the tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
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


SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
# Debian's chromium, headless, with nothing that reaches for the network on its own.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


async def launch_chromium(playwright: Any) -> Any:
    """Debian's chromium through Playwright: no browser download, ever."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
