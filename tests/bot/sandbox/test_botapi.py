"""The sandbox's Bot API: Telegram's wire format, its checks and its errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiogram.types import ChatFullInfo, ChatInviteLink, ChatMemberAdministrator, Message, Update
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.sandbox import botapi, state
from bot.sandbox.formatting import format_text, utf16_len
from bot.sandbox.ratelimit import RateLimiter
from tests.bot.sandbox.conftest import BOT_ID, BOTH_DATABASES, TOKEN

KEYBOARD = {"inline_keyboard": [[{"text": "Yes", "callback_data": "vote:yes"}]]}


async def updates(api: Any, **params: Any) -> list[dict[str, Any]]:
    """Everything pending, confirmed at once so the next call sees only new updates."""
    found = await api("getUpdates", **params)
    if found:
        await api("getUpdates", offset=found[-1]["update_id"] + 1, timeout=0)
    for update in found:
        Update.model_validate(update)
    return found


def kinds(found: list[dict[str, Any]]) -> list[str]:
    return [next(k for k in update if k != "update_id") for update in found]


async def test_get_me_describes_the_bot(api: Any) -> None:
    me = await api("getMe")
    assert me["id"] == BOT_ID and me["is_bot"] is True
    assert me["username"] == "townsquare_sandbox_bot" and me["first_name"] == "Townsquare"
    assert me["can_read_all_group_messages"] is True


@pytest.mark.parametrize(
    ("token", "method", "status", "description"),
    [
        ("999:nope", "getMe", 401, "Unauthorized"),
        (TOKEN.split(":")[0] + ":wrong-secret", "getMe", 401, "Unauthorized"),
        (TOKEN, "getNothing", 404, "Not Found"),
        (TOKEN, "sendMessage", 400, "Bad Request: chat_id is empty"),
    ],
)
async def test_errors_use_telegrams_envelope(
    raw: Any, token: str, method: str, status: int, description: str
) -> None:
    response = await raw(method, token=token)
    assert response.status_code == status
    assert response.json() == {"ok": False, "error_code": status, "description": description}


async def test_method_names_are_case_insensitive_and_get_works(client: Any) -> None:
    response = await client.get(f"/sandbox/bot{TOKEN}/GETME")
    assert response.status_code == 200 and response.json()["result"]["id"] == BOT_ID


@BOTH_DATABASES
async def test_send_edit_delete_roundtrip(api: Any, raw: Any, act: Any, world: Any) -> None:
    chat_id = world["group"]["id"]
    sent = await api(
        "sendMessage",
        chat_id=chat_id,
        text="<b>Hello</b> all",
        parse_mode="HTML",
        reply_markup=KEYBOARD,
    )
    Message.model_validate(sent)
    assert sent["text"] == "Hello all"
    assert sent["entities"] == [{"type": "bold", "offset": 0, "length": 5}]
    assert sent["reply_markup"] == KEYBOARD and sent["from"]["id"] == BOT_ID

    edited = await api(
        "editMessageText",
        chat_id=chat_id,
        message_id=sent["message_id"],
        text="Bye",
        reply_markup=KEYBOARD,
    )
    assert edited["text"] == "Bye" and edited["edit_date"] >= sent["date"]
    same = await raw(
        "editMessageText",
        chat_id=chat_id,
        message_id=sent["message_id"],
        text="Bye",
        reply_markup=KEYBOARD,
    )
    assert same.status_code == 400
    assert same.json()["description"].startswith("Bad Request: message is not modified")
    # Like Telegram, an edit without reply_markup drops the inline keyboard.
    bare = await api("editMessageText", chat_id=chat_id, message_id=sent["message_id"], text="x")
    assert "reply_markup" not in bare
    again = await api(
        "editMessageReplyMarkup",
        chat_id=chat_id,
        message_id=sent["message_id"],
        reply_markup=KEYBOARD,
    )
    assert again["reply_markup"] == KEYBOARD and again["text"] == "x"

    assert await api("deleteMessage", chat_id=chat_id, message_id=sent["message_id"]) is True
    gone = await raw("deleteMessage", chat_id=chat_id, message_id=sent["message_id"])
    assert gone.json()["description"] == "Bad Request: message to delete not found"
    ids = [m["message_id"] for m in await act(state.messages, chat_id=chat_id)]
    assert sent["message_id"] not in ids


async def test_bot_cannot_edit_a_users_message(api: Any, raw: Any, act: Any, world: Any) -> None:
    chat_id = world["group"]["id"]
    said = await act(state.send_message, chat_id=chat_id, from_id=world["bob"]["id"], text="hi")
    response = await raw(
        "editMessageText", chat_id=chat_id, message_id=said["message_id"], text="hacked"
    )
    assert response.json()["description"] == "Bad Request: message can't be edited"


async def test_reply_parameters_nest_the_replied_message(api: Any, act: Any, world: Any) -> None:
    chat_id = world["group"]["id"]
    said = await act(state.send_message, chat_id=chat_id, from_id=world["bob"]["id"], text="q?")
    by_params = await api(
        "sendMessage",
        chat_id=chat_id,
        text="a1",
        reply_parameters={"message_id": said["message_id"]},
    )
    by_id = await api(
        "sendMessage", chat_id=chat_id, text="a2", reply_to_message_id=said["message_id"]
    )
    for answer in (by_params, by_id):
        assert answer["reply_to_message"]["message_id"] == said["message_id"]
        assert answer["reply_to_message"]["text"] == "q?"
        assert "reply_to_message" not in answer["reply_to_message"]
    user_reply = await act(
        state.send_message,
        chat_id=chat_id,
        from_id=world["alice"]["id"],
        text="re",
        reply_to=by_id["message_id"],
    )
    assert user_reply["reply_to_message"]["from"]["id"] == BOT_ID


@pytest.mark.parametrize(
    ("text", "mode", "plain", "entities"),
    [
        ("plain /help", None, "plain /help", [{"type": "bot_command", "offset": 6, "length": 5}]),
        (
            "<i>é</i> <a href='https://x.io'>go</a>",
            "HTML",
            "é go",
            [
                {"type": "italic", "offset": 0, "length": 1},
                {"type": "text_link", "url": "https://x.io", "offset": 2, "length": 2},
            ],
        ),
        ("👍 <b>ok</b>", "HTML", "👍 ok", [{"type": "bold", "offset": 3, "length": 2}]),
        (
            "*b* _i_ \\!",
            "MarkdownV2",
            "b i !",
            [
                {"type": "bold", "offset": 0, "length": 1},
                {"type": "italic", "offset": 2, "length": 1},
            ],
        ),
        ("<code>/x</code>", "HTML", "/x", [{"type": "code", "offset": 0, "length": 2}]),
    ],
)
async def test_parse_modes_store_plain_text_and_entities(
    api: Any, world: Any, *, text: str, mode: str | None, plain: str, entities: list[Any]
) -> None:
    sent = await api("sendMessage", chat_id=world["group"]["id"], text=text, parse_mode=mode)
    assert sent["text"] == plain
    assert sent.get("entities", []) == entities


@pytest.mark.parametrize(
    ("text", "mode", "reason"),
    [
        ("<b>open", "HTML", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<blink>x</blink>", "HTML", 'Unsupported start tag "blink"'),
        ("a.b", "MarkdownV2", "Character '.' is reserved"),
    ],
)
async def test_bad_markup_is_refused(
    raw: Any, world: Any, text: str, mode: str, reason: str
) -> None:
    response = await raw("sendMessage", chat_id=world["group"]["id"], text=text, parse_mode=mode)
    assert response.status_code == 400
    assert response.json()["description"].startswith("Bad Request: can't parse entities")
    assert reason in response.json()["description"]


@pytest.mark.parametrize(
    ("text", "commands"),
    [
        ("/start", ["/start"]),
        ("/start@townsquare_sandbox_bot now", ["/start@townsquare_sandbox_bot"]),
        ("please /points and /link", ["/points", "/link"]),
        ("a/b and http://x.io/path", []),
    ],
)
async def test_user_messages_carry_bot_command_entities(
    act: Any, world: Any, text: str, commands: list[str]
) -> None:
    said = await act(
        state.send_message, chat_id=world["group"]["id"], from_id=world["bob"]["id"], text=text
    )
    found = [
        said["text"][e["offset"] : e["offset"] + e["length"]]
        for e in said.get("entities", [])
        if e["type"] == "bot_command"
    ]
    assert found == commands


@given(st.text(min_size=1, max_size=60))
def test_entities_always_lie_within_the_text(text: str) -> None:
    plain, entities = format_text(text)
    for entity in entities:
        assert entity["offset"] >= 0 and entity["length"] > 0
        assert entity["offset"] + entity["length"] <= utf16_len(plain)


async def test_form_encoded_and_multipart_bodies(client: Any, api: Any, world: Any) -> None:
    chat_id = world["group"]["id"]
    url = f"/sandbox/bot{TOKEN}/sendMessage"
    form = {
        "chat_id": str(chat_id),
        "text": "form",
        "reply_markup": json.dumps(KEYBOARD),
        "disable_notification": "true",
    }
    encoded = await client.post(url, data=form)
    assert encoded.status_code == 200, encoded.text
    assert encoded.json()["result"]["reply_markup"] == KEYBOARD
    multipart = await client.post(
        url, data={**form, "text": "multi"}, files={"unused": ("a.txt", b"x", "text/plain")}
    )
    assert multipart.status_code == 200, multipart.text
    assert multipart.request.headers["content-type"].startswith("multipart/form-data")
    assert multipart.json()["result"]["text"] == "multi"
    query = await client.get(url, params={"chat_id": chat_id, "text": "query"})
    assert query.json()["result"]["text"] == "query"


@BOTH_DATABASES
async def test_inline_keyboard_roundtrip(api: Any, raw: Any, act: Any, world: Any) -> None:
    chat_id = world["group"]["id"]
    await updates(api)
    sent = await api("sendMessage", chat_id=chat_id, text="Vote?", reply_markup=KEYBOARD)
    query_id = await act(
        state.press_button,
        chat_id=chat_id,
        message_id=sent["message_id"],
        user_id=world["bob"]["id"],
        callback_data="vote:yes",
    )
    [update] = await updates(api)
    query = update["callback_query"]
    assert query["id"] == query_id and query["data"] == "vote:yes"
    assert query["from"]["id"] == world["bob"]["id"]
    assert query["message"]["message_id"] == sent["message_id"] and query["chat_instance"]
    assert (await act(state.callback_answer, callback_query_id=query_id))["answered"] is False
    assert await api("answerCallbackQuery", callback_query_id=query_id, text="Counted!") is True
    answer = await act(state.callback_answer, callback_query_id=query_id)
    assert answer["answered"] is True and answer["text"] == "Counted!"
    twice = await raw("answerCallbackQuery", callback_query_id=query_id)
    assert twice.status_code == 400 and "query is too old" in twice.json()["description"]
    with pytest.raises(state.SandboxError):
        await act(
            state.press_button,
            chat_id=chat_id,
            message_id=sent["message_id"],
            user_id=world["bob"]["id"],
            callback_data="vote:no",
        )


@pytest.mark.parametrize(
    ("chat_kind", "status", "description"),
    [
        ("group", 400, "Bad Request: BUTTON_TYPE_INVALID"),
        ("private", 200, None),
    ],
)
async def test_web_app_buttons_only_in_private_chats(
    raw: Any, act: Any, world: Any, *, chat_kind: str, status: int, description: str | None
) -> None:
    chat_id = world["group"]["id"]
    if chat_kind == "private":
        chat_id = (await act(state.private_chat_with_bot, user_id=world["bob"]["id"]))["id"]
    markup = {"inline_keyboard": [[{"text": "Open", "web_app": {"url": "http://127.0.0.1/app"}}]]}
    response = await raw("sendMessage", chat_id=chat_id, text="app", reply_markup=markup)
    assert response.status_code == status
    assert response.json().get("description") == description


async def test_sending_where_the_bot_cannot(raw: Any, act: Any, world: Any) -> None:
    carol = await act(state.create_user, first_name="Carol")
    cases = [
        (carol["id"], 403, "Forbidden: bot can't initiate conversation with a user"),
        (-42, 400, "Bad Request: chat not found"),
    ]
    lonely = await act(state.create_group, title="No bot", creator_id=carol["id"])
    await act(state.add_bot, chat_id=lonely["id"], by_user_id=carol["id"])
    await act(state.remove_bot, chat_id=lonely["id"], by_user_id=carol["id"])
    cases.append((lonely["id"], 403, "Forbidden: bot was kicked from the supergroup chat"))
    for chat_id, status, description in cases:
        response = await raw("sendMessage", chat_id=chat_id, text="hi")
        assert (response.status_code, response.json()["description"]) == (status, description)


async def make_bot_member_only(act: Any, world: Any) -> int:
    """A second group where the bot is a plain member."""
    group = await act(state.create_group, title="Plain", creator_id=world["alice"]["id"])
    await act(
        state.add_member,
        chat_id=group["id"],
        user_id=world["bob"]["id"],
        by_user_id=world["alice"]["id"],
    )
    await act(state.add_bot, chat_id=group["id"], by_user_id=world["alice"]["id"])
    return int(group["id"])


async def test_admin_only_methods_need_rights(raw: Any, act: Any, world: Any) -> None:
    chat_id = await make_bot_member_only(act, world)
    bob = world["bob"]["id"]
    for method, params in [
        ("banChatMember", {"user_id": bob}),
        ("createChatInviteLink", {}),
        ("approveChatJoinRequest", {"user_id": bob}),
        ("restrictChatMember", {"user_id": bob, "permissions": {"can_send_messages": False}}),
    ]:
        response = await raw(method, chat_id=chat_id, **params)
        assert response.status_code == 400, method
        assert response.json()["description"].startswith("Bad Request: not enough rights"), method
    said = await act(state.send_message, chat_id=chat_id, from_id=bob, text="mine")
    delete = await raw("deleteMessage", chat_id=chat_id, message_id=said["message_id"])
    assert delete.json()["description"] == "Bad Request: message can't be deleted"
    admins = await raw("getChatAdministrators", chat_id=chat_id)
    assert [a["status"] for a in admins.json()["result"]] == ["creator"]


@BOTH_DATABASES
async def test_ban_and_unban_as_admin(api: Any, raw: Any, act: Any, world: Any) -> None:
    chat_id, bob, alice = world["group"]["id"], world["bob"]["id"], world["alice"]["id"]
    owner = await raw("banChatMember", chat_id=chat_id, user_id=alice)
    assert owner.json()["description"] == "Bad Request: can't remove chat owner"
    assert await api("banChatMember", chat_id=chat_id, user_id=bob, until_date=0) is True
    member = await api("getChatMember", chat_id=chat_id, user_id=bob)
    assert member["status"] == "kicked" and member["until_date"] == 0
    with pytest.raises(state.SandboxError, match="USER_BANNED_IN_CHANNEL"):
        await act(state.join, chat_id=chat_id, user_id=bob)
    assert await api("unbanChatMember", chat_id=chat_id, user_id=bob, only_if_banned=True) is True
    assert (await api("getChatMember", chat_id=chat_id, user_id=bob))["status"] == "left"
    await act(state.join, chat_id=chat_id, user_id=bob)
    service = (await act(state.messages, chat_id=chat_id))[-1]
    assert service["new_chat_members"][0]["id"] == bob


async def test_restrict_records_permissions(api: Any, act: Any, world: Any) -> None:
    chat_id, bob = world["group"]["id"], world["bob"]["id"]
    await api(
        "restrictChatMember",
        chat_id=chat_id,
        user_id=bob,
        permissions={"can_send_messages": False},
        until_date=2_000_000_000,
    )
    member = await api("getChatMember", chat_id=chat_id, user_id=bob)
    assert member["status"] == "restricted" and member["is_member"] is True
    assert member["can_send_messages"] is False and member["until_date"] == 2_000_000_000
    with pytest.raises(state.SandboxError, match="not enough rights to send"):
        await act(state.send_message, chat_id=chat_id, from_id=bob, text="muted")


@BOTH_DATABASES
async def test_chat_queries_parse_as_aiogram_types(api: Any, world: Any) -> None:
    chat_id = world["group"]["id"]
    ChatFullInfo.model_validate(await api("getChat", chat_id=chat_id))
    admins = await api("getChatAdministrators", chat_id=chat_id)
    assert {a["status"] for a in admins} == {"creator", "administrator"}
    bot = await api("getChatMember", chat_id=chat_id, user_id=BOT_ID)
    ChatMemberAdministrator.model_validate(bot)
    assert await api("getChatMemberCount", chat_id=chat_id) == 3
    link = await api("createChatInviteLink", chat_id=chat_id, name="promo", member_limit=5)
    ChatInviteLink.model_validate(link)
    assert link["invite_link"].startswith("https://t.me/+") and link["member_limit"] == 5
    revoked = await api("revokeChatInviteLink", chat_id=chat_id, invite_link=link["invite_link"])
    assert revoked["is_revoked"] is True


async def test_commands_menu_button_action_and_reaction(api: Any, act: Any, world: Any) -> None:
    commands = [{"command": "points", "description": "Your points"}]
    assert await api("setMyCommands", commands=commands) is True
    assert await api("getMyCommands") == commands
    scoped = {"type": "all_group_chats"}
    assert await api("getMyCommands", scope=scoped) == []
    await api("deleteMyCommands")
    assert await api("getMyCommands") == []
    button = {"type": "web_app", "text": "Open", "web_app": {"url": "https://a.example/app"}}
    await api("setChatMenuButton", menu_button=button)
    assert await api("getChatMenuButton") == button
    assert await api("sendChatAction", chat_id=world["group"]["id"], action="typing") is True
    said = await act(
        state.send_message, chat_id=world["group"]["id"], from_id=world["bob"]["id"], text="nice"
    )
    await api(
        "setMessageReaction",
        chat_id=world["group"]["id"],
        message_id=said["message_id"],
        reaction=[{"type": "emoji", "emoji": "👍"}],
    )
    _, changed = await act(state.changes, chat_id=world["group"]["id"], since_id=0)
    reacted = next(m for m in changed if m["message_id"] == said["message_id"])
    assert reacted["sandbox"]["reactions"] == {"👍": [BOT_ID]}


async def test_leave_chat_sends_my_chat_member(api: Any, world: Any) -> None:
    await updates(api)
    assert await api("leaveChat", chat_id=world["group"]["id"]) is True
    found = await updates(api)
    assert kinds(found) == ["my_chat_member"]
    assert found[0]["my_chat_member"]["new_chat_member"]["status"] == "left"


@pytest.mark.parametrize(
    ("admin", "allowed", "expected"),
    [(True, True, True), (True, False, False), (False, True, False), (False, False, False)],
)
async def test_reaction_updates_need_admin_and_opt_in(
    api: Any, act: Any, world: Any, *, admin: bool, allowed: bool, expected: bool
) -> None:
    chat_id = world["group"]["id"] if admin else await make_bot_member_only(act, world)
    said = await act(state.send_message, chat_id=chat_id, from_id=world["alice"]["id"], text="x")
    await updates(api, allowed_updates=["message", "message_reaction"] if allowed else [])
    await act(
        state.react,
        chat_id=chat_id,
        message_id=said["message_id"],
        user_id=world["bob"]["id"],
        emoji=["👍"],
    )
    found = await updates(api)
    assert ("message_reaction" in kinds(found)) is expected
    if expected:
        reaction = found[0]["message_reaction"]
        assert reaction["old_reaction"] == []
        assert reaction["new_reaction"] == [{"type": "emoji", "emoji": "👍"}]


@pytest.mark.parametrize(("admin", "expected"), [(True, True), (False, False)])
async def test_chat_member_updates_need_admin_and_opt_in(
    api: Any, act: Any, world: Any, admin: bool, expected: bool
) -> None:
    chat_id = world["group"]["id"] if admin else await make_bot_member_only(act, world)
    carol = await act(state.create_user, first_name="Carol")
    await updates(api)
    await act(state.join, chat_id=chat_id, user_id=carol["id"])
    assert kinds(await updates(api)) == ["message"]
    await updates(api, allowed_updates=["message", "chat_member"])
    await act(state.leave, chat_id=chat_id, user_id=carol["id"])
    found = await updates(api)
    assert kinds(found) == (["chat_member", "message"] if expected else ["message"])
    assert found[-1]["message"]["left_chat_member"]["id"] == carol["id"]


@BOTH_DATABASES
async def test_join_request_approval(api: Any, raw: Any, act: Any, world: Any) -> None:
    chat_id = world["group"]["id"]
    carol = await act(state.create_user, first_name="Carol")
    link = await api("createChatInviteLink", chat_id=chat_id, creates_join_request=True)
    await updates(api, allowed_updates=["message", "chat_join_request", "chat_member"])
    await act(
        state.request_join, chat_id=chat_id, user_id=carol["id"], invite_link=link["invite_link"]
    )
    [update] = await updates(api)
    request = update["chat_join_request"]
    assert request["from"]["id"] == carol["id"] and request["user_chat_id"] == carol["id"]
    assert request["invite_link"]["invite_link"] == link["invite_link"]
    assert await api("approveChatJoinRequest", chat_id=chat_id, user_id=carol["id"]) is True
    found = await updates(api)
    assert kinds(found) == ["chat_member", "message"]
    joined = found[0]["chat_member"]
    assert joined["via_join_request"] is True and joined["new_chat_member"]["status"] == "member"
    assert found[1]["message"]["from"]["id"] == carol["id"]
    missing = await raw("declineChatJoinRequest", chat_id=chat_id, user_id=carol["id"])
    assert missing.json()["description"] == "Bad Request: HIDE_REQUESTER_MISSING"


def test_rate_limiter_buckets() -> None:
    now = [0.0]
    limiter = RateLimiter(chat_per_minute=2, global_per_second=3, clock=lambda: now[0])
    assert limiter.check(-1, group=True) is None
    assert limiter.check(-1, group=True) is None
    assert limiter.check(-1, group=True) == 30
    assert limiter.check(5, group=False) is None
    assert limiter.check(6, group=False) == 1
    now[0] = 30.0
    assert limiter.check(-1, group=True) is None
    off = RateLimiter(chat_per_minute=0, global_per_second=0)
    assert all(off.check(-1, group=True) is None for _ in range(100))


async def test_group_sends_over_the_limit_get_429(
    api: Any, raw: Any, act: Any, sandbox: Any, world: Any
) -> None:
    now = [100.0]
    sandbox.limiter.clock = lambda: now[0]
    sandbox.limiter.configure(chat_per_minute=3, global_per_second=30)
    chat_id = world["group"]["id"]
    for _ in range(3):
        await api("sendMessage", chat_id=chat_id, text="spam")
    response = await raw("sendMessage", chat_id=chat_id, text="spam")
    assert response.status_code == 429
    assert response.json() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 20",
        "parameters": {"retry_after": 20},
    }
    private = await act(state.private_chat_with_bot, user_id=world["bob"]["id"])
    for _ in range(5):
        await api("sendMessage", chat_id=private["id"], text="private is not limited per chat")
    now[0] += 20
    await api("sendMessage", chat_id=chat_id, text="allowed again")


async def test_unexpected_failures_keep_telegrams_envelope(
    raw: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def boom(call: Any) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setitem(botapi.ALL_METHODS, "getme", boom)
    response = await raw("getMe")
    assert response.status_code == 500
    assert response.json() == {
        "ok": False,
        "error_code": 500,
        "description": "Internal Server Error",
    }


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("sendMessage", {"text": "x", "reply_parameters": {"message_id": "x"}}),
        ("sendMessage", {"text": "x", "reply_markup": {"inline_keyboard": [[1]]}}),
        ("sendMessage", {"text": "x", "reply_markup": [1]}),
        ("sendMessage", {"text": "x", "entities": [{"type": "bold"}]}),
        ("sendMessage", {"text": "x", "entities": [{"type": "bold", "offset": 0, "length": 9}]}),
        ("sendMessage", {"text": "x", "parse_mode": "Klingon"}),
        ("sendMessage", {"text": "x", "reply_to_message_id": 2**70}),
        ("sendMessage", {"text": " "}),
        ("sendMessage", {"text": "x" * 4097}),
        ("setMyCommands", {"commands": ["x"]}),
        ("setMyCommands", {"commands": [{"command": "Bad Name", "description": "d"}]}),
        ("setMessageReaction", {"message_id": 1, "reaction": [1]}),
        ("setMessageReaction", {"message_id": 1, "reaction": [{"type": "emoji", "emoji": "🦖"}]}),
        ("getUpdates", {"offset": 2**70}),
        ("getUpdates", {"allowed_updates": "message"}),
        ("getChatMember", {"user_id": 2**70}),
        ("createChatInviteLink", {"expire_date": 2**40}),
        ("banChatMember", {"user_id": 1, "until_date": -(2**40)}),
        ("setWebhook", {"url": "ftp://x", "secret_token": "no spaces allowed"}),
        ("sendChatAction", {"action": "dancing"}),
    ],
)
async def test_malformed_parameters_get_400(
    raw: Any, world: Any, method: str, params: dict[str, Any]
) -> None:
    response = await raw(method, **{"chat_id": world["group"]["id"], **params})
    assert response.status_code == 400, response.text
    assert response.json()["description"].startswith("Bad Request: ")


LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.text(max_size=8),
    st.sampled_from(["-1", "@x", "👍", "emoji", "HTML", "typing", "https://t.me/+x"]),
)
TREE = st.recursive(
    LEAF,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(
                [
                    "message_id",
                    "type",
                    "emoji",
                    "text",
                    "url",
                    "callback_data",
                    "inline_keyboard",
                    "command",
                    "offset",
                    "length",
                ]
            ),
            inner,
            max_size=3,
        ),
    ),
    max_leaves=6,
)
PARAM = st.sampled_from(
    [
        "chat_id",
        "text",
        "message_id",
        "user_id",
        "reply_markup",
        "reply_parameters",
        "parse_mode",
        "entities",
        "callback_query_id",
        "offset",
        "limit",
        "allowed_updates",
        "url",
        "commands",
        "scope",
        "menu_button",
        "reaction",
        "permissions",
        "until_date",
        "invite_link",
        "expire_date",
        "member_limit",
        "action",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    method=st.sampled_from(sorted(botapi.ALL_METHODS) + ["setWebhook", "deleteWebhook"]),
    params=st.dictionaries(PARAM, st.one_of(TREE, TREE.map(json.dumps)), max_size=5),
)
async def test_no_input_makes_the_bot_api_fail_with_500(
    raw: Any, world: Any, method: str, params: dict[str, Any]
) -> None:
    response = await raw(method, **{"chat_id": world["group"]["id"], **params})
    assert response.status_code in (200, 400, 403, 409), response.text
    assert response.json()["ok"] is (response.status_code == 200)
