"""Bot API methods that run inside one database transaction, keyed by lower-cased name."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.sandbox import state_bot, state_updates
from bot.sandbox.errors import bad_request
from bot.sandbox.params import Params
from bot.sandbox.state_core import get_user
from bot.sandbox.state_interactions import answer_callback_query
from bot.sandbox.views import bot_user_json
from core.models_sandbox import SandboxBot

CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
COMMAND_NAME = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


@dataclass
class Call:
    """One Bot API call: its transaction, the calling bot and its parameters."""

    session: AsyncSession
    bot: SandboxBot
    p: Params
    chat_actions: dict[int, tuple[str, float]] = field(default_factory=dict)


Method = Callable[[Call], Awaitable[Any]]
Register = Callable[..., Callable[[Method], Method]]


def registry(table: dict[str, Method]) -> Register:
    """A decorator `@method("sendMessage", ...)` that files handlers under lower-cased names."""

    def method(*names: str) -> Callable[[Method], Method]:
        def register(fn: Method) -> Method:
            for name in names:
                table[name.lower()] = fn
            return fn

        return register

    return method


METHODS: dict[str, Method] = {}
method = registry(METHODS)


@method("getMe")
async def get_me(call: Call) -> Any:
    return bot_user_json(await get_user(session=call.session, user_id=call.bot.id))


@method("logOut", "close")
async def log_out(call: Call) -> Any:
    return True


@method("getWebhookInfo")
async def get_webhook_info(call: Call) -> Any:
    return await state_updates.webhook_info(session=call.session, bot_id=call.bot.id)


def reply_target(p: Params) -> tuple[int | None, bool]:
    params = p.obj("reply_parameters")
    if isinstance(params, dict) and params.get("message_id") is not None:
        nested = Params(params)
        return nested.req_int("message_id"), nested.flag("allow_sending_without_reply")
    return p.opt_int("reply_to_message_id"), p.flag("allow_sending_without_reply")


@method("sendMessage")
async def send_message(call: Call) -> Any:
    reply_to, without_reply = reply_target(call.p)
    return await state_bot.bot_send_message(
        session=call.session,
        bot=call.bot,
        chat_ref=call.p.chat_id(),
        text=call.p.req_str("text"),
        parse_mode=call.p.opt_str("parse_mode"),
        entities=call.p.obj("entities"),
        reply_to=reply_to,
        allow_without_reply=without_reply,
        reply_markup=call.p.obj("reply_markup"),
    )


def _message_ref(p: Params) -> tuple[int | str, int]:
    if p.has("inline_message_id"):
        raise bad_request("inline messages are not supported by the sandbox")
    return p.chat_id(), p.req_int("message_id")


@method("editMessageText")
async def edit_message_text(call: Call) -> Any:
    chat_ref, message_id = _message_ref(call.p)
    return await state_bot.bot_edit_message(
        session=call.session,
        bot=call.bot,
        chat_ref=chat_ref,
        message_id=message_id,
        text=call.p.req_str("text"),
        parse_mode=call.p.opt_str("parse_mode"),
        entities=call.p.obj("entities"),
        reply_markup=call.p.obj("reply_markup"),
    )


@method("editMessageReplyMarkup")
async def edit_message_reply_markup(call: Call) -> Any:
    chat_ref, message_id = _message_ref(call.p)
    return await state_bot.bot_edit_message(
        session=call.session,
        bot=call.bot,
        chat_ref=chat_ref,
        message_id=message_id,
        text=None,
        reply_markup=call.p.obj("reply_markup"),
    )


@method("deleteMessage")
async def delete_message(call: Call) -> Any:
    chat_ref, message_id = _message_ref(call.p)
    return await state_bot.bot_delete_message(
        session=call.session, bot=call.bot, chat_ref=chat_ref, message_id=message_id
    )


@method("setMessageReaction")
async def set_message_reaction(call: Call) -> Any:
    chat_ref, message_id = _message_ref(call.p)
    reaction = call.p.obj("reaction")
    if reaction is not None and not isinstance(reaction, list):
        raise bad_request("can't parse reaction: an Array is expected")
    return await state_bot.bot_set_reaction(
        session=call.session,
        bot=call.bot,
        chat_ref=chat_ref,
        message_id=message_id,
        reaction=reaction,
    )


@method("answerCallbackQuery")
async def answer_callback(call: Call) -> Any:
    return await answer_callback_query(
        session=call.session,
        bot_id=call.bot.id,
        callback_query_id=call.p.req_str("callback_query_id"),
        text=call.p.opt_str("text"),
        show_alert=call.p.flag("show_alert"),
        url=call.p.opt_str("url"),
    )


@method("sendChatAction")
async def send_chat_action(call: Call) -> Any:
    chat, _ = await state_bot.bot_chat(session=call.session, bot=call.bot, ref=call.p.chat_id())
    action = call.p.req_str("action")
    if action not in CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    # Telegram shows an action for five seconds or until the next message.
    call.chat_actions[chat.id] = (action, time.monotonic() + 5.0)
    return True


def _commands(p: Params) -> list[dict[str, Any]]:
    commands = p.obj("commands")
    if not isinstance(commands, list) or len(commands) > 100:
        raise bad_request("can't parse commands: an Array of at most 100 BotCommand expected")
    for item in commands:
        if not isinstance(item, dict):
            raise bad_request("can't parse BotCommand: an Object is expected")
        name = str(item.get("command", "")).removeprefix("/")
        if not 1 <= len(name) <= 32 or not set(name) <= COMMAND_NAME:
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(str(item.get("description", ""))) <= 256:
            raise bad_request("command description must be non-empty")
        item["command"] = name
    return commands


@method("setMyCommands")
async def set_my_commands(call: Call) -> Any:
    return await state_updates.set_commands(
        session=call.session,
        bot=call.bot,
        commands=_commands(call.p),
        scope=call.p.obj("scope"),
        language_code=call.p.opt_str("language_code"),
    )


@method("getMyCommands")
async def get_my_commands(call: Call) -> Any:
    return state_updates.get_commands(
        call.bot, call.p.obj("scope"), call.p.opt_str("language_code")
    )


@method("deleteMyCommands")
async def delete_my_commands(call: Call) -> Any:
    return await state_updates.set_commands(
        session=call.session,
        bot=call.bot,
        commands=None,
        scope=call.p.obj("scope"),
        language_code=call.p.opt_str("language_code"),
    )


@method("setChatMenuButton")
async def set_chat_menu_button(call: Call) -> Any:
    button = call.p.obj("menu_button")
    if button is not None and not isinstance(button, dict):
        raise bad_request("can't parse menu_button JSON object")
    return await state_updates.set_menu_button(
        session=call.session, bot=call.bot, chat_id=call.p.opt_int("chat_id"), button=button
    )


@method("getChatMenuButton")
async def get_chat_menu_button(call: Call) -> Any:
    return state_updates.get_menu_button(call.bot, call.p.opt_int("chat_id"))
