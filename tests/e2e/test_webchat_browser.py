"""A person opens the sandbox web chat in headless Chromium and talks to the real bot."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.mark.browser
async def test_person_chats_with_the_bot(gateway: Any) -> None:
    from playwright.async_api import async_playwright, expect

    from tests.tests_support import SCREENSHOTS, launch_chromium, wait_for

    async def webhook_registered() -> bool:
        return bool((await gateway.gateway.bot.get_webhook_info()).url)

    await wait_for(webhook_registered, what="webhook registration")
    async with async_playwright() as playwright:
        browser = await launch_chromium(playwright)
        page = await browser.new_page(viewport={"width": 1100, "height": 720})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        try:
            await page.goto(f"{gateway.base_url}/")
            await page.get_by_test_id("new-user-name").fill("Alice")
            await page.get_by_test_id("create-user").click()
            await expect(page.get_by_test_id("user-picker")).not_to_have_value("")
            await page.get_by_test_id("open-private").click()
            await page.get_by_test_id("composer").fill("/start")
            await page.get_by_test_id("composer").press("Enter")
            reply = page.get_by_test_id("message-text").filter(has_text="Hello, Alice!")
            await expect(reply).to_have_count(1, timeout=15_000)

            await page.get_by_test_id("new-group-title").fill("Builders")
            await page.get_by_test_id("new-group-bot").select_option("admin")
            await page.get_by_test_id("create-group").click()
            greeting = page.get_by_test_id("message-text").filter(has_text="Thanks for adding me")
            await expect(greeting).to_have_count(1, timeout=15_000)
            await page.get_by_test_id("composer").fill("gm everyone")
            await page.get_by_test_id("composer").press("Enter")
            mine = page.get_by_test_id("message-text").filter(has_text="gm everyone")
            await expect(mine).to_have_count(1)
            await page.screenshot(path=str(SCREENSHOTS / "webchat.png"), full_page=True)
        finally:
            await browser.close()
    assert errors == []
