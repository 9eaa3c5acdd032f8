"""Fixtures of the browser tests: headless Chromium and the sandbox web chat's API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Browser, async_playwright, expect

from tests.conftest import RunningGateway
from tests.tests_support import launch_chromium

# Generous waits: the gateway, the sandbox and Chromium share a small CI machine.
TIMEOUT_MS = 20_000


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await launch_chromium(playwright)
        expect.set_options(timeout=TIMEOUT_MS)
        try:
            yield chromium
        finally:
            expect.set_options(timeout=5_000)  # Playwright's default, for other modules
            await chromium.close()


@pytest.fixture
async def sandbox_api(gateway: RunningGateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{gateway.base_url}/sandbox/ui") as client:
        yield client
