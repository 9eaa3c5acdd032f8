"""The members' Mini App end to end in headless Chromium: the sandbox web chat, `/app` in a
group, its button, the Mini App in the chat's iframe panel with initData signed by the sandbox,
and the member's points as the ledger has them; in light and dark themes, with a hostile name
on the leaderboard that must stay text."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, FrameLocator, Page, expect

from engagement import epochs, ledger
from tests.conftest import RunningGateway
from tests.tests_support import SCREENSHOTS

pytestmark = pytest.mark.browser

TIMEOUT_MS = 20_000
HOSTILE = "<img src=x onerror=window.pwned=1>"
CHATTER = [
    "Good morning everyone, the square is open again today.",
    "I have been reading the proposal and it looks sensible to me.",
    "Does anyone know when the next community call is scheduled?",
]


class Town:
    def __init__(self, gateway: RunningGateway, http: httpx.AsyncClient) -> None:
        self.gateway = gateway
        self.http = http
        self.group = self.alice = self.mallory = 0

    async def ui(self, method: str, path: str, **body: Any) -> Any:
        response = await self.http.request(method, path, json=body or None)
        assert response.status_code == 200, response.text
        return response.json()

    async def say(self, who: int, text: str) -> None:
        await self.ui("POST", f"/chats/{self.group}/messages", from_id=who, text=text)
        await self.gateway.sandbox.wait_idle(10)

    async def points(self, member_id: int) -> int:
        async with self.gateway.gateway.sessions() as session:
            epoch = await epochs.current(session=session, chat_id=self.group)
            assert epoch is not None and epoch.id is not None
            return await ledger.score(session=session, epoch_id=epoch.id, member_id=member_id)


@pytest.fixture
async def town(gateway: RunningGateway) -> AsyncIterator[Town]:
    async with httpx.AsyncClient(base_url=f"{gateway.base_url}/sandbox/ui", timeout=15) as http:
        town = Town(gateway, http)
        town.alice = (await town.ui("POST", "/users", first_name="Alice", username="alice"))["id"]
        town.mallory = (await town.ui("POST", "/users", first_name=HOSTILE))["id"]
        group = await town.ui("POST", "/chats", title="Town", creator_id=town.alice, bot="admin")
        town.group = group["id"]
        await town.ui("POST", f"/chats/{town.group}/members", user_id=town.mallory)
        for text in CHATTER:
            await town.say(town.alice, text)
        await town.say(town.mallory, "Hello all, I am new here and glad to have joined you.")
        await town.say(town.alice, "/app")
        yield town


async def open_group_chat(page: Page, town: Town) -> None:
    base = town.gateway.base_url
    await page.goto(f"{base}/healthz")
    await page.evaluate(
        "([user, chat]) => { localStorage.setItem('sandbox.user', user); "
        "localStorage.setItem('sandbox.chat', chat); }",
        [str(town.alice), str(town.group)],
    )
    await page.goto(f"{base}/")
    await expect(page.get_by_test_id("composer")).to_be_enabled()


async def open_mini_app(page: Page) -> FrameLocator:
    await page.get_by_role("button", name="Open Townsquare").last.click()
    await expect(page.get_by_test_id("webapp-panel")).to_be_visible()
    return page.frame_locator('[data-testid="webapp-frame"]')


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_points_mini_app_from_the_group_chat(
    browser: Browser, town: Town, scheme: Any
) -> None:
    expected = await town.points(town.alice)
    assert expected > 0, "the chatter should have earned points"
    context = await browser.new_context(
        viewport={"width": 1100, "height": 800}, color_scheme=scheme
    )
    try:
        page = await context.new_page()
        await open_group_chat(page, town)
        # Collected from here: the JSON page visited to set localStorage has no favicon.
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on(
            "response",
            lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
        )
        app = await open_mini_app(page)
        await expect(app.get_by_test_id("points")).to_have_text(str(expected))
        await expect(app.get_by_test_id("subtitle")).to_contain_text("Town")
        await expect(app.get_by_test_id("entry")).to_have_count(len(CHATTER))
        background = await app.locator("body").evaluate(
            "b => getComputedStyle(b).getPropertyValue('--tg-theme-bg-color').trim()"
        )
        assert (background in ("#ffffff", "#fff")) == (scheme == "light")
        await page.screenshot(path=str(SCREENSHOTS / f"miniapp_points_{scheme}.png"))

        await app.get_by_role("link", name="Leaderboard").click()
        leaders = app.get_by_test_id("leader")
        await expect(leaders.filter(has_text=HOSTILE)).to_have_count(1)
        await expect(leaders.filter(has_text="Alice")).to_have_class("me")
        assert await app.locator("img").count() == 0
        frame = page.frame_locator('[data-testid="webapp-frame"]').owner
        pwned = await frame.evaluate("f => f.contentWindow.pwned === undefined")
        assert pwned
        await page.screenshot(path=str(SCREENSHOTS / f"miniapp_leaderboard_{scheme}.png"))
        assert problems == []
    finally:
        await context.close()
