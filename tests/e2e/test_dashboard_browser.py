"""The managers' dashboard end to end in headless Chromium: `/dashboard` in a sandbox group, its
direct link, the Mini App in the chat's panel with initData signed by the sandbox, admin rights
asked of the sandbox's Bot API; the manager previews and saves a rules change and sees the
charts, in light and dark themes; a member who opens the same link gets the refusal page."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, FrameLocator, Page, expect

from engagement import rules
from tests.e2e.test_miniapps_browser import (  # noqa: F401 (the fixtures)
    HOSTILE,
    Town,
    town,
)
from tests.tests_support import SCREENSHOTS

pytestmark = pytest.mark.browser


@pytest.fixture
async def dashboard_town(town: Town) -> Town:  # noqa: F811
    """The members' test group (Alice, who created it, and a newcomer), with `/dashboard`."""
    await town.say(town.alice, "/dashboard")
    return town


async def open_chat_as(page: Page, square: Town, user_id: int) -> None:
    base = square.gateway.base_url
    await page.goto(f"{base}/healthz")
    await page.evaluate(
        "([user, chat]) => { localStorage.setItem('sandbox.user', user); "
        "localStorage.setItem('sandbox.chat', chat); }",
        [str(user_id), str(square.group)],
    )
    await page.goto(f"{base}/")
    await expect(page.get_by_test_id("composer")).to_be_enabled()


async def open_dashboard(page: Page) -> FrameLocator:
    await page.get_by_role("button", name="Open the dashboard").last.click()
    await expect(page.get_by_test_id("webapp-panel")).to_be_visible()
    return page.frame_locator('[data-testid="webapp-frame"]')


def watch(page: Page) -> list[str]:
    """Console errors and page errors; the refused save's 422 is expected, and Chromium logs it."""
    problems: list[str] = []

    def console(message: Any) -> None:
        if message.type == "error" and "status of 422" not in message.text:
            problems.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    return problems


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_manager_edits_rules_and_sees_charts(
    browser: Browser,  # noqa: F811
    dashboard_town: Town,
    scheme: Any,
) -> None:
    square = dashboard_town
    context = await browser.new_context(
        viewport={"width": 1100, "height": 900}, color_scheme=scheme
    )
    try:
        page = await context.new_page()
        await open_chat_as(page, square, square.alice)
        problems = watch(page)
        app = await open_dashboard(page)
        await expect(app.get_by_test_id("subtitle")).to_contain_text("Town")
        form = app.get_by_test_id("rules-form")
        await form.locator('input[name="message.points"]').fill("4")
        await form.locator('input[name="message.cooldown_seconds"]').fill("0")
        await app.get_by_test_id("preview-button").click()
        # Defaults gave Alice 10 (two messages in cooldown) and the newcomer 10; with 4 points
        # and no cooldown: 3 x 4 + 1 x 4.
        await expect(app.get_by_test_id("total-before")).to_have_text("20")
        await expect(app.get_by_test_id("total-after")).to_have_text("16")
        members = app.get_by_test_id("preview-member")
        await expect(members).to_have_count(2)
        await expect(members.filter(has_text=HOSTILE)).to_have_count(1)
        background = await app.locator("body").evaluate(
            "b => getComputedStyle(b).getPropertyValue('--tg-theme-bg-color').trim()"
        )
        assert (background in ("#ffffff", "#fff")) == (scheme == "light")
        await page.screenshot(path=str(SCREENSHOTS / f"dashboard_preview_{scheme}.png"))

        await form.locator('input[name="message.points"]').fill("-1")
        await app.get_by_test_id("save-button").click()
        await expect(app.get_by_test_id("problem")).to_contain_text("message.points")
        await form.locator('input[name="message.points"]').fill("4")
        await app.get_by_test_id("save-button").click()
        await expect(app.get_by_test_id("saved")).to_contain_text("version 2")
        async with square.gateway.gateway.sessions() as session:
            _, current = await rules.current(session=session, chat_id=square.group)
        assert (current.message.points, current.message.cooldown_seconds) == (4, 0)

        await app.get_by_role("link", name="Analytics").click()
        for chart in ("activity", "distribution", "top", "retention"):
            await expect(app.get_by_test_id(f"chart-{chart}").locator("svg")).to_be_visible()
        # A tie on points: the higher member id first; the hostile name stays text.
        await expect(app.get_by_test_id("chart-top").locator("text.label")).to_have_text(
            [HOSTILE[:15] + "…", "Alice"]
        )
        assert await app.locator("img").count() == 0
        await page.screenshot(path=str(SCREENSHOTS / f"dashboard_analytics_{scheme}.png"))

        await app.get_by_role("link", name="Epochs").click()
        await expect(app.get_by_test_id("epoch")).to_have_count(1)
        await expect(app.get_by_test_id("close-form")).to_be_visible()
        await app.get_by_role("link", name="Review").click()
        await expect(app.get_by_test_id("no-flags")).to_be_visible()
        assert problems == []
    finally:
        await context.close()


async def test_a_member_gets_the_refusal_page(
    browser: Browser,  # noqa: F811
    dashboard_town: Town,
) -> None:
    square = dashboard_town
    context = await browser.new_context(viewport={"width": 1100, "height": 800})
    try:
        page = await context.new_page()
        await open_chat_as(page, square, square.mallory)
        app = await open_dashboard(page)
        await expect(app.get_by_test_id("forbidden")).to_contain_text("Managers only")
        await expect(app.get_by_test_id("tabs")).to_be_hidden()
        await page.screenshot(path=str(SCREENSHOTS / "dashboard_forbidden.png"))
    finally:
        await context.close()
