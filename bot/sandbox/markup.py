"""Reply markup checks: inline keyboards as Telegram validates them."""

from __future__ import annotations

from typing import Any

from bot.sandbox.errors import bad_request
from core.models_sandbox import SandboxChat

BUTTON_KINDS = frozenset(
    {
        "url",
        "callback_data",
        "web_app",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "copy_text",
        "callback_game",
        "pay",
    }
)


def check_markup(markup: Any, chat: SandboxChat) -> dict[str, Any] | None:
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard")
    if rows is None:
        return markup
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request('can\'t parse inline keyboard: field "inline_keyboard" must be an Array')
    for row in rows:
        for button in row:
            _check_button(button, chat)
    return markup


def _check_button(button: Any, chat: SandboxChat) -> None:
    if not isinstance(button, dict) or not str(button.get("text") or "").strip():
        raise bad_request("can't parse inline keyboard button: Text buttons are unallowed")
    kinds = BUTTON_KINDS & set(button)
    if len(kinds) != 1:
        raise bad_request(
            "can't parse inline keyboard button: InlineKeyboardButton must have exactly one "
            "optional field"
        )
    if "callback_data" in button and not 1 <= len(str(button["callback_data"]).encode()) <= 64:
        raise bad_request("BUTTON_DATA_INVALID")
    if "url" in button and not str(button["url"]).startswith(("http://", "https://", "tg://")):
        raise bad_request("BUTTON_URL_INVALID")
    if "web_app" in button:
        # Telegram allows web_app buttons only in private chats.
        if chat.type != "private":
            raise bad_request("BUTTON_TYPE_INVALID")
        url = str((button["web_app"] or {}).get("url") or "")
        if not url.startswith(("http://", "https://")):
            raise bad_request("BUTTON_URL_INVALID")
