"""The web chat: its page, its static files, and its JSON API driving the same state."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.bot.sandbox.conftest import BOT_ID, BOTH_DATABASES
from tests.tests_support import launch_chromium

UI = "/sandbox/ui"
TEMPLATES = Path(__file__).resolve().parents[3] / "templates" / "sandbox"
TEST_IDS = (
    "user-picker",
    "new-user-name",
    "create-user",
    "new-group-title",
    "create-group",
    "chat-list",
    "composer",
    "send",
)
# Created by the script, so they appear in chat.js rather than in the page.
SCRIPT_TEST_IDS = ("chat-item", "message", "message-text", "message-from", "inline-button")


async def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def test_page_has_the_test_ids_and_a_strict_csp(client: Any) -> None:
    response = await client.get("/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    for test_id in TEST_IDS:
        assert f'data-testid="{test_id}"' in response.text, test_id
    script = (TEMPLATES / "chat.js").read_text()
    for test_id in SCRIPT_TEST_IDS:
        assert f'"data-testid": "{test_id}"' in script, test_id
    for name, kind in (("chat.js", "text/javascript"), ("chat.css", "text/css")):
        asset = await client.get(f"{UI}/static/{name}")
        assert asset.status_code == 200 and asset.headers["content-type"].startswith(kind)
    assert (await client.get(f"{UI}/static/secret.py")).status_code == 404


@pytest.mark.parametrize("name", ["chat.html", "chat.js", "chat.css"])
def test_assets_fetch_nothing_from_the_internet_and_never_inject_html(name: str) -> None:
    text = (TEMPLATES / name).read_text()
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", text)
    assert not re.search(r"url\(\s*[\"']?(https?:)?//", text)
    assert "@import" not in text
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in text, sink
    if name == "chat.html":
        assert "<script>" not in text and "style=" not in text


async def test_users_and_groups(client: Any, api: Any) -> None:
    alice = await ok(
        await client.post(f"{UI}/users", json={"first_name": "Alice", "username": "alice"})
    )
    assert alice["is_bot"] is False and alice["username"] == "alice"
    taken = await client.post(f"{UI}/users", json={"first_name": "A2", "username": "Alice"})
    assert taken.status_code == 400 and "taken" in taken.json()["detail"]
    assert (await client.post(f"{UI}/users", json={"first_name": ""})).status_code == 422
    assert [u["id"] for u in await ok(await client.get(f"{UI}/users"))] == [alice["id"]]

    group = await ok(
        await client.post(
            f"{UI}/chats", json={"title": "Town", "creator_id": alice["id"], "bot": "admin"}
        )
    )
    assert group["type"] == "supergroup" and str(group["id"]).startswith("-100")
    basic = await ok(
        await client.post(
            f"{UI}/chats",
            json={"title": "Basic", "creator_id": alice["id"], "supergroup": False, "bot": "none"},
        )
    )
    assert basic["type"] == "group" and not str(basic["id"]).startswith("-100")
    chats = await ok(await client.get(f"{UI}/chats", params={"user_id": alice["id"]}))
    assert [c["sandbox"]["bot_status"] for c in chats] == ["administrator", "left"]
    updates = await api("getUpdates")
    assert updates[0]["my_chat_member"]["chat"]["id"] == group["id"]
    assert updates[0]["my_chat_member"]["new_chat_member"]["status"] == "administrator"
    await ok(await client.post(f"{UI}/chats/{basic['id']}/bot", json={"admin": False}))
    await ok(await client.post(f"{UI}/chats/{basic['id']}/bot", json={"admin": True}))
    detail = await ok(await client.get(f"{UI}/chats/{basic['id']}"))
    assert detail["sandbox"]["bot_status"] == "administrator"
    missing = await client.get(f"{UI}/chats/-7")
    assert missing.status_code == 400 and missing.json()["detail"] == "Bad Request: chat not found"


@pytest.fixture
async def town(client: Any) -> dict[str, Any]:
    alice = await ok(await client.post(f"{UI}/users", json={"first_name": "Alice"}))
    bob = await ok(await client.post(f"{UI}/users", json={"first_name": "Bob"}))
    group = await ok(
        await client.post(
            f"{UI}/chats", json={"title": "Town", "creator_id": alice["id"], "bot": "admin"}
        )
    )
    return {"alice": alice, "bob": bob, "group": group, "chat": f"{UI}/chats/{group['id']}"}


async def test_membership_and_messages(client: Any, api: Any, town: Any) -> None:
    chat, bob = town["chat"], town["bob"]["id"]
    outsider = await client.post(f"{chat}/messages", json={"from_id": bob, "text": "hi"})
    assert outsider.status_code == 403
    await ok(
        await client.post(
            f"{chat}/members", json={"user_id": bob, "by_user_id": town["alice"]["id"]}
        )
    )
    members = await ok(await client.get(f"{chat}/members"))
    assert {m["user"]["id"]: m["status"] for m in members} == {
        town["alice"]["id"]: "creator",
        bob: "member",
        BOT_ID: "administrator",
    }
    backlog = await api("getUpdates")
    sent = await ok(await client.post(f"{chat}/messages", json={"from_id": bob, "text": "/points"}))
    [update] = await api("getUpdates", offset=backlog[-1]["update_id"] + 1)
    assert update["message"]["message_id"] == sent["message_id"]
    assert update["message"]["entities"][0]["type"] == "bot_command"
    edited = await ok(
        await client.patch(
            f"{chat}/messages/{sent['message_id']}", json={"user_id": bob, "text": "/points please"}
        )
    )
    assert edited["edit_date"] >= sent["date"]
    after = await api("getUpdates", offset=update["update_id"] + 1)
    assert after[0]["edited_message"]["text"] == "/points please"
    listed = await ok(await client.get(f"{chat}/messages", params={"since_id": 0}))
    texts = [m.get("text") for m in listed]
    assert "/points please" in texts and all("sandbox" in m for m in listed)


@BOTH_DATABASES
async def test_polling_by_revision_sees_edits_reactions_and_deletions(
    client: Any, api: Any, town: Any
) -> None:
    chat, alice = town["chat"], town["alice"]["id"]
    first = await ok(await client.post(f"{chat}/messages", json={"from_id": alice, "text": "a"}))
    listed = await ok(await client.get(f"{chat}/messages"))
    revision = max(m["sandbox"]["revision"] for m in listed)
    assert await ok(await client.get(f"{chat}/messages", params={"since_rev": revision})) == []

    reacted = await ok(
        await client.post(
            f"{chat}/reactions",
            json={"message_id": first["message_id"], "user_id": alice, "emoji": ["❤️"]},
        )
    )
    assert reacted["reactions"] == {"❤": [alice]}
    bad = await client.post(
        f"{chat}/reactions",
        json={"message_id": first["message_id"], "user_id": alice, "emoji": ["🦖"]},
    )
    assert bad.status_code == 400 and bad.json()["detail"] == "Bad Request: REACTION_INVALID"
    bot_message = await api("sendMessage", chat_id=town["group"]["id"], text="bot says")
    await api("deleteMessage", chat_id=town["group"]["id"], message_id=bot_message["message_id"])
    changed = await ok(await client.get(f"{chat}/messages", params={"since_rev": revision}))
    by_id = {m["message_id"]: m for m in changed}
    assert by_id[first["message_id"]]["sandbox"]["reactions"] == {"❤": [alice]}
    assert by_id[bot_message["message_id"]]["sandbox"]["deleted"] is True
    assert "text" not in by_id[bot_message["message_id"]]


async def test_buttons_and_toasts(client: Any, api: Any, town: Any) -> None:
    chat, alice = town["chat"], town["alice"]["id"]
    markup = {"inline_keyboard": [[{"text": "Claim", "callback_data": "claim"}]]}
    message = await api(
        "sendMessage", chat_id=town["group"]["id"], text="Claim?", reply_markup=markup
    )
    listed = await ok(await client.get(f"{chat}/messages"))
    assert listed[-1]["reply_markup"] == markup
    pressed = await ok(
        await client.post(
            f"{chat}/buttons",
            json={"message_id": message["message_id"], "user_id": alice, "data": "claim"},
        )
    )
    query_id = pressed["callback_query_id"]
    updates = await api("getUpdates")
    assert updates[-1]["callback_query"]["id"] == query_id
    await api("answerCallbackQuery", callback_query_id=query_id, text="Done", show_alert=True)
    answer = await ok(await client.get(f"{UI}/callback_queries/{query_id}"))
    assert answer == {
        "id": query_id,
        "answered": True,
        "text": "Done",
        "show_alert": True,
        "url": None,
    }
    wrong = await client.post(
        f"{chat}/buttons",
        json={"message_id": message["message_id"], "user_id": alice, "data": "other"},
    )
    assert wrong.status_code == 400


@BOTH_DATABASES
async def test_invite_links_and_join_requests(client: Any, api: Any, town: Any) -> None:
    chat, bob = town["chat"], town["bob"]["id"]
    links = await ok(await client.get(f"{chat}/invite_links"))
    assert [link["is_primary"] for link in links] == [True]
    joined = await ok(
        await client.post(
            f"{UI}/invite_links/use", json={"user_id": bob, "invite_link": links[0]["invite_link"]}
        )
    )
    assert joined["status"] == "joined" and joined["chat"]["id"] == town["group"]["id"]
    await ok(await client.post(f"{chat}/leave", json={"user_id": bob}))

    approval = await api(
        "createChatInviteLink", chat_id=town["group"]["id"], creates_join_request=True
    )
    requested = await ok(
        await client.post(
            f"{chat}/join_requests", json={"user_id": bob, "invite_link": approval["invite_link"]}
        )
    )
    assert requested["from"]["id"] == bob
    pending = await ok(await client.get(f"{chat}/join_requests"))
    assert [p["user"]["id"] for p in pending] == [bob]
    used = await ok(
        await client.post(
            f"{UI}/invite_links/use",
            json={"user_id": bob, "invite_link": approval["invite_link"].removeprefix("https://")},
        )
    )
    assert used["status"] == "requested"
    kinds = [next(k for k in u if k != "update_id") for u in await api("getUpdates")]
    assert kinds.count("chat_join_request") == 1
    await api("declineChatJoinRequest", chat_id=town["group"]["id"], user_id=bob)
    assert await ok(await client.get(f"{chat}/join_requests")) == []
    await api(
        "revokeChatInviteLink", chat_id=town["group"]["id"], invite_link=approval["invite_link"]
    )
    expired = await client.post(
        f"{UI}/invite_links/use", json={"user_id": bob, "invite_link": approval["invite_link"]}
    )
    assert expired.status_code == 400 and expired.json()["detail"].endswith("INVITE_HASH_EXPIRED")


async def test_private_chat_with_the_bot(client: Any, api: Any, town: Any) -> None:
    bob = town["bob"]["id"]
    private = await ok(await client.post(f"{UI}/users/{bob}/private"))
    assert private == {"id": bob, "type": "private", "first_name": "Bob"}
    chats = await ok(await client.get(f"{UI}/chats", params={"user_id": bob}))
    assert chats[0]["sandbox"]["title"] == "Townsquare"
    backlog = await api("getUpdates")
    await ok(
        await client.post(f"{UI}/chats/{bob}/messages", json={"from_id": bob, "text": "/start"})
    )
    [update] = await api("getUpdates", offset=backlog[-1]["update_id"] + 1)
    assert update["message"]["chat"] == private and update["message"]["text"] == "/start"
    reply = await api("sendMessage", chat_id=bob, text="Welcome!")
    listed = await ok(await client.get(f"{UI}/chats/{bob}/messages"))
    assert [m["text"] for m in listed] == ["/start", "Welcome!"]
    assert reply["chat"]["id"] == bob
    stranger = await client.post(
        f"{UI}/chats/{bob}/messages", json={"from_id": town["alice"]["id"], "text": "hi"}
    )
    assert stranger.status_code == 403


async def test_typing_action_shows_in_chat_detail(client: Any, api: Any, town: Any) -> None:
    await api("sendChatAction", chat_id=town["group"]["id"], action="typing")
    detail = await ok(await client.get(town["chat"]))
    assert detail["sandbox"]["action"] == "typing"


@pytest.mark.browser
async def test_a_person_chats_with_the_bot_in_a_browser(live: str, api: Any) -> None:
    """The page works under its own CSP: users, groups, messages, buttons, reactions, Mini App."""
    from playwright.async_api import async_playwright, expect

    async with async_playwright() as playwright:
        browser = await launch_chromium(playwright)
        page = await browser.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        try:
            await page.goto(f"{live}/")
            await page.get_by_test_id("new-user-name").fill("Alice")
            await page.get_by_test_id("create-user").click()
            await expect(page.get_by_test_id("user-picker")).not_to_have_value("")
            await page.get_by_test_id("new-group-title").fill("Club")
            await page.get_by_test_id("new-group-bot").select_option("admin")
            await page.get_by_test_id("create-group").click()
            await expect(page.get_by_test_id("chat-item")).to_have_count(1)
            await page.get_by_test_id("composer").fill("<b>hello</b>")
            await page.get_by_test_id("composer").press("Enter")
            mine = page.get_by_test_id("message").filter(has_text="<b>hello</b>")
            await expect(mine.get_by_test_id("message-from")).to_have_text("Alice")

            group_id = int(await page.get_by_test_id("chat-item").get_attribute("data-chat-id"))
            markup = {
                "inline_keyboard": [
                    [
                        {"text": "Claim", "callback_data": "claim"},
                        {"text": "Docs", "url": "https://example.org"},
                    ]
                ]
            }
            await api(
                "sendMessage",
                chat_id=group_id,
                text="<i>Claim</i> now",
                parse_mode="HTML",
                reply_markup=markup,
            )
            bot_message = page.get_by_test_id("message").filter(has_text="Claim now")
            await expect(bot_message.locator("i")).to_have_text("Claim")
            await expect(bot_message.get_by_test_id("inline-button")).to_have_count(2)
            await bot_message.get_by_test_id("inline-button").first.click()
            query = None
            for _ in range(50):
                found = [u for u in await api("getUpdates") if "callback_query" in u]
                if found:
                    query = found[-1]["callback_query"]
                    break
                await page.wait_for_timeout(50)
            assert query is not None and query["data"] == "claim"
            await api("answerCallbackQuery", callback_query_id=query["id"], text="Claimed!")
            await expect(page.get_by_test_id("toast")).to_have_text("Claimed!")

            await bot_message.hover()
            await bot_message.get_by_test_id("react-button").click()
            await page.get_by_test_id("pick-reaction").first.click()
            await expect(bot_message.get_by_test_id("reaction")).to_have_text("👍 1")

            await page.get_by_test_id("open-private").click()
            await page.get_by_test_id("start-bot").click()
            await expect(page.get_by_test_id("message-text")).to_have_text("/start")
            user_id = int(await page.get_by_test_id("user-picker").input_value())
            app_markup = {
                "inline_keyboard": [
                    [{"text": "Open app", "web_app": {"url": f"{live}/sandbox/ui/bot"}}]
                ]
            }
            await api("sendMessage", chat_id=user_id, text="Your app", reply_markup=app_markup)
            await page.get_by_test_id("inline-button").filter(has_text="Open app").click()
            await expect(page.get_by_test_id("webapp-panel")).to_be_visible()
            frame = page.get_by_test_id("webapp-frame")
            await expect(frame).to_have_attribute("src", f"{live}/sandbox/ui/bot")
        finally:
            await browser.close()
    assert problems == []
