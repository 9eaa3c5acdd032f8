"""The example builder app end to end in headless Chromium: a builder registers the daily quiz
with /newapp, a manager prices its event and enables it in the group, and a member opens it
from the group's Mini App (Apps tab), answers, and finds the points in their ledger with the
app as the cause; in light and dark themes."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.async_api import Browser, expect
from sqlmodel import col, select

from core.models_engagement import LedgerEntry
from miniapps.consent import WALLETS_READ, has_consent
from miniapps.examples.quiz.app import QuizConfig, create_quiz_app
from miniapps.examples.quiz.questions import question_for
from tests.conftest import RunningGateway, free_port
from tests.tests_support import SCREENSHOTS

pytestmark = pytest.mark.browser

POINTS = 5


class Chat:
    def __init__(self, gateway: RunningGateway, http: httpx.AsyncClient) -> None:
        self.gateway, self.http = gateway, http

    async def ui(self, method: str, path: str, **body: Any) -> Any:
        response = await self.http.request(method, path, json=body or None)
        assert response.status_code == 200, response.text
        return response.json()

    async def say(self, chat_id: int, who: int, text: str) -> None:
        await self.ui("POST", f"/chats/{chat_id}/messages", from_id=who, text=text)
        await self.gateway.sandbox.wait_idle(10)

    async def bot_said(self, chat_id: int) -> str:
        messages = await self.ui("GET", f"/chats/{chat_id}/messages")
        return str([m for m in messages if m.get("from", {}).get("is_bot")][-1].get("text", ""))


@pytest.fixture
async def quiz_port() -> int:
    return free_port()


@pytest.fixture
async def world(gateway: RunningGateway, quiz_port: int) -> AsyncIterator[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=f"{gateway.base_url}/sandbox/ui", timeout=15) as http:
        chat = Chat(gateway, http)
        alice = (await chat.ui("POST", "/users", first_name="Alice", username="alice"))["id"]
        bob = (await chat.ui("POST", "/users", first_name="Bob", username="bob"))["id"]
        group = (await chat.ui("POST", "/chats", title="Town", creator_id=alice, bot="admin"))["id"]
        # The builder registers the quiz in the private chat with the bot.
        await chat.ui("POST", f"/users/{bob}/private")
        await chat.say(bob, bob, f"/newapp Daily <b>quiz</b> http://127.0.0.1:{quiz_port}/")
        created = await chat.bot_said(bob)
        found = re.search(r"App id: (\S+)\nSecret: (\S+)", created)
        assert found is not None, created
        app_id, secret = found[1], found[2]
        # The manager prices the event and enables the app with a cap.
        await chat.say(group, alice, "/setrules app_events.quiz_correct=5")
        await chat.say(group, alice, f"/enableapp {app_id} 20")
        assert "is enabled here" in await chat.bot_said(group)
        await chat.say(group, alice, "/app")

        config = QuizConfig(
            gateway=gateway.base_url,
            app_id=app_id,
            secret=secret,
            webapp_script=f"{gateway.base_url}/static/telegram-web-app.js",
        )
        server = uvicorn.Server(
            uvicorn.Config(
                create_quiz_app(config), host="127.0.0.1", port=quiz_port, log_level="warning"
            )
        )
        task = asyncio.create_task(server.serve())
        while not server.started:
            assert not task.done(), "the quiz did not start"
            await asyncio.sleep(0.02)
        try:
            yield {
                "alice": alice,
                "group": group,
                "app_id": app_id,
                "quiz": f"http://127.0.0.1:{quiz_port}/",
            }
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, timeout=15)


async def app_entries(gateway: RunningGateway, member_id: int) -> list[tuple[str, int]]:
    stmt = select(LedgerEntry.cause, LedgerEntry.points).where(
        col(LedgerEntry.member_id) == member_id, col(LedgerEntry.kind) == "app"
    )
    async with gateway.gateway.sessions() as session:
        return [(cause, points) for cause, points in (await session.exec(stmt)).all()]


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_the_quiz_credits_a_correct_answer_to_the_members_ledger(
    browser: Browser, gateway: RunningGateway, world: dict[str, Any], scheme: Any
) -> None:
    context = await browser.new_context(
        viewport={"width": 1100, "height": 800}, color_scheme=scheme
    )
    try:
        page = await context.new_page()
        base = gateway.base_url
        await page.goto(f"{base}/healthz")
        await page.evaluate(
            "([user, chat]) => { localStorage.setItem('sandbox.user', user); "
            "localStorage.setItem('sandbox.chat', chat); }",
            [str(world["alice"]), str(world["group"])],
        )
        await page.goto(f"{base}/")
        await expect(page.get_by_test_id("composer")).to_be_enabled()
        await page.get_by_role("button", name="Open Townsquare").last.click()
        frame = page.frame_locator('[data-testid="webapp-frame"]')
        await frame.get_by_role("link", name="Apps").click()
        listed = frame.get_by_test_id("app")
        # The name's markup is text, never markup.
        await expect(listed).to_contain_text("Daily <b>quiz</b>")
        await listed.get_by_test_id("open-app").click()

        await expect(frame.get_by_test_id("quiz-who")).to_have_text("Hello, Alice")
        # The app got a token addressed to it, never Telegram's initData (our own key).
        quiz = next(f for f in page.frames if f.url.startswith(world["quiz"]))
        launch = await quiz.evaluate("() => location.hash + ' ' + Telegram.WebApp.initData")
        assert "tgWebAppData" not in launch and "townsquareSession" in launch
        assert launch.endswith(" ")
        _, question = question_for(datetime.now(UTC).date())
        await expect(frame.get_by_test_id("quiz-question")).to_have_text(question.text)
        await frame.get_by_test_id("quiz-choice").nth(question.answer).click()
        await expect(frame.get_by_test_id("quiz-result")).to_have_text(f"Correct! +{POINTS} points")
        await page.screenshot(path=str(SCREENSHOTS / f"quiz_{scheme}.png"))
    finally:
        await context.close()
    entries = await app_entries(gateway, world["alice"])
    assert [points for _, points in entries] == [POINTS]
    assert entries[0][0].startswith(f"app:{world['app_id']}:quiz-")


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_the_member_allows_and_takes_back_wallet_access(
    browser: Browser, gateway: RunningGateway, world: dict[str, Any], scheme: Any
) -> None:
    async with httpx.AsyncClient(base_url=f"{gateway.base_url}/sandbox/ui") as ui:
        launch = await ui.post(
            "/webapp/init",
            json={
                "user_id": world["alice"],
                "chat_id": world["group"],
                "url": f"{gateway.base_url}/miniapp/consent?app={world['app_id']}",
            },
        )
    assert launch.status_code == 200, launch.text
    fragment = httpx.QueryParams({"tgWebAppData": launch.json()["init_data"]})
    context = await browser.new_context(viewport={"width": 480, "height": 720}, color_scheme=scheme)
    try:
        page = await context.new_page()
        await page.goto(f"{launch.json()['url']}#{fragment}")
        await expect(page.get_by_test_id("app-name")).to_have_text("Daily <b>quiz</b>")
        await expect(page.get_by_test_id("consent-state")).to_have_text("Not allowed.")
        await page.get_by_test_id("allow").click()
        await expect(page.get_by_test_id("consent-state")).to_have_text("Allowed.")
        await expect(page.get_by_test_id("allow")).to_be_hidden()
        await expect(page.get_by_test_id("consent")).to_contain_text("wallets:read")
        await page.screenshot(path=str(SCREENSHOTS / f"consent_{scheme}.png"))
        assert await consented(gateway, world)
        await page.get_by_test_id("revoke").click()
        await expect(page.get_by_test_id("consent-state")).to_have_text("Not allowed.")
        await expect(page.get_by_test_id("revoke")).to_be_hidden()
        assert not await consented(gateway, world)
    finally:
        await context.close()


async def consented(gateway: RunningGateway, world: dict[str, Any]) -> bool:
    async with gateway.gateway.sessions() as session:
        return await has_consent(
            session=session, member_id=world["alice"], app_id=world["app_id"], scope=WALLETS_READ
        )
