"""Launching the members' Mini App through the whole gateway and the sandbox: `/app` in a group
answers a direct link, `/app` in private an inline web_app button; the sandbox signs initData
for them as Telegram would, and the gateway turns that into a session bound to the group."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlmodel import select

from core.models_miniapps import MiniApp
from tests.conftest import RunningGateway


class Chat:
    def __init__(self, gateway: RunningGateway, http: httpx.AsyncClient) -> None:
        self.gateway = gateway
        self.http = http

    async def ui(self, method: str, path: str, **body: Any) -> Any:
        response = await self.http.request(method, f"/sandbox/ui{path}", json=body or None)
        assert response.status_code == 200, response.text
        return response.json()

    async def say(self, chat_id: int, who: int, text: str) -> None:
        await self.ui("POST", f"/chats/{chat_id}/messages", from_id=who, text=text)
        await self.gateway.sandbox.wait_idle(10)

    async def last_button(self, chat_id: int) -> dict[str, Any]:
        messages = await self.ui("GET", f"/chats/{chat_id}/messages")
        markup = [m["reply_markup"] for m in messages if m.get("reply_markup")]
        return dict(markup[-1]["inline_keyboard"][0][0])

    async def launch(self, user_id: int, chat_id: int, url: str) -> httpx.Response:
        launch = await self.ui("POST", "/webapp/init", user_id=user_id, chat_id=chat_id, url=url)
        assert launch["url"].startswith(self.gateway.base_url + "/miniapp/")
        return await self.http.post("/miniapp/session", json={"init_data": launch["init_data"]})


@pytest.fixture
async def chat(gateway: RunningGateway) -> AsyncIterator[Chat]:
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=15) as http:
        yield Chat(gateway, http)


async def test_app_in_group_launches_a_session_for_that_group(chat: Chat) -> None:
    alice = (await chat.ui("POST", "/users", first_name="Alice", username="alice"))["id"]
    bob = (await chat.ui("POST", "/users", first_name="Bob", username="bob"))["id"]
    group = (await chat.ui("POST", "/chats", title="Town", creator_id=alice, bot="admin"))["id"]
    await chat.say(group, alice, "/app")
    button = await chat.last_button(group)
    bot = await chat.ui("GET", "/bot")
    assert button["url"] == f"https://t.me/{bot['username']}/app?startapp=gm{-group}"

    session = await chat.launch(alice, group, button["url"])
    assert session.status_code == 200, session.text
    assert (session.json()["member_id"], session.json()["chat_id"]) == (alice, group)
    token = session.json()["token"]
    points = await chat.http.get(
        "/miniapp/api/points", headers={"Authorization": f"Bearer {token}"}
    )
    assert points.status_code == 200
    assert points.json()["chat"]["title"] == "Town"

    # Bob is not in the group: the link works for him as in Telegram, the gateway refuses.
    refused = await chat.launch(bob, group, button["url"])
    assert refused.status_code == 403
    assert refused.json() == {"reason": "not_a_member"}


async def test_app_in_private_opens_a_web_app_button(chat: Chat) -> None:
    alice = (await chat.ui("POST", "/users", first_name="Alice", username="alice"))["id"]
    await chat.ui("POST", f"/users/{alice}/private")
    await chat.say(alice, alice, "/app")
    button = await chat.last_button(alice)
    assert button["web_app"]["url"] == f"{chat.gateway.base_url}/miniapp/points"
    session = await chat.launch(alice, alice, button["web_app"]["url"])
    assert session.status_code == 200
    assert session.json()["chat_id"] is None


@pytest.mark.parametrize(
    "url",
    [
        "https://t.me/someone_else_bot/app?startapp=g1",
        "https://t.me/{bot}/other?startapp=g1",
        "https://t.me/{bot}/app?startapp=bad%20param",
        "https://evil.example/miniapp/points",
    ],
)
async def test_sandbox_signs_only_for_its_own_apps(chat: Chat, url: str) -> None:
    alice = (await chat.ui("POST", "/users", first_name="Alice"))["id"]
    await chat.ui("POST", f"/users/{alice}/private")
    bot = await chat.ui("GET", "/bot")
    answer = await chat.http.post(
        "/sandbox/ui/webapp/init",
        json={"user_id": alice, "chat_id": alice, "url": url.format(bot=bot["username"])},
    )
    assert answer.status_code == 400
    assert "init_data" not in answer.text


async def test_newapp_shows_the_secret_once_and_stores_its_hash(chat: Chat) -> None:
    alice = (await chat.ui("POST", "/users", first_name="Alice"))["id"]
    await chat.ui("POST", f"/users/{alice}/private")
    await chat.say(alice, alice, "/newapp")
    await chat.say(alice, alice, "/newapp   Quiz <b>night</b> ")
    texts = [m.get("text", "") for m in await chat.ui("GET", f"/chats/{alice}/messages")]
    assert any("/newapp followed by" in text for text in texts)
    created = next(text for text in texts if "is registered" in text)
    found = re.search(r"App id: (app_[0-9a-f]{16})\nSecret: (\S{43})\n", created)
    assert found is not None, created
    app_id, secret = found.groups()
    async with chat.gateway.gateway.sessions() as session:
        apps = list((await session.exec(select(MiniApp))).all())
    assert [(a.id, a.name, a.owner_id) for a in apps] == [(app_id, "Quiz <b>night</b>", alice)]
    assert apps[0].secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(apps[0])
