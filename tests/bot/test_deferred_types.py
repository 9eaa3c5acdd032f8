"""aiogram's types built on first use validate and serialise exactly as when built at import.

Each side runs in a new interpreter: one imports aiogram on its own (every type built eagerly,
as aiogram does), the other through `bot` (types deferred until used).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

UPDATES = [
    {
        "update_id": 1,
        "message": {
            "message_id": 7,
            "date": 1_700_000_000,
            "chat": {"id": -100, "type": "supergroup", "title": "Town"},
            "from": {"id": 5, "is_bot": False, "first_name": "Ann", "language_code": "en"},
            "text": "/start hello",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
            "reply_to_message": {
                "message_id": 6,
                "date": 1_699_999_000,
                "chat": {"id": -100, "type": "supergroup", "title": "Town"},
                "text": "earlier",
            },
            "reply_markup": {
                "inline_keyboard": [[{"text": "Go", "callback_data": "go"}]],
            },
        },
    },
    {
        "update_id": 2,
        "callback_query": {
            "id": "q1",
            "from": {"id": 5, "is_bot": False, "first_name": "Ann"},
            "chat_instance": "ci",
            "data": "go",
        },
    },
    {
        "update_id": 3,
        "message_reaction": {
            "chat": {"id": -100, "type": "supergroup", "title": "Town"},
            "message_id": 7,
            "user": {"id": 6, "is_bot": False, "first_name": "Bo"},
            "date": 1_700_000_100,
            "old_reaction": [],
            "new_reaction": [{"type": "emoji", "emoji": "👍"}],
        },
    },
    {
        "update_id": 4,
        "chat_member": {
            "chat": {"id": -100, "type": "supergroup", "title": "Town"},
            "from": {"id": 5, "is_bot": False, "first_name": "Ann"},
            "date": 1_700_000_200,
            "old_chat_member": {
                "status": "left",
                "user": {"id": 6, "is_bot": False, "first_name": "Bo"},
            },
            "new_chat_member": {
                "status": "member",
                "user": {"id": 6, "is_bot": False, "first_name": "Bo"},
            },
        },
    },
]

SCRIPT = """
import json, sys
{first}
from aiogram.methods import SendMessage
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Update

complete_at_import = Update.__pydantic_complete__
updates = [Update.model_validate(u).model_dump(mode="json", exclude_none=True)
           for u in json.loads(sys.stdin.read())]
bad = []
for broken in ({{"update_id": "x"}}, {{"update_id": 9, "message": {{"message_id": 1}}}}):
    try:
        Update.model_validate(broken)
    except Exception as exc:
        bad.append([type(exc).__name__, exc.error_count()])
markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="a", url="https://x.y")]])
method = SendMessage(chat_id=1, text="hi", reply_markup=markup).model_dump(
    mode="json", exclude_none=True, exclude_defaults=True)
print(json.dumps({{"complete_at_import": complete_at_import, "updates": updates,
                  "bad": bad, "method": method}}))
"""


def run(first: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(first=first)],
        input=json.dumps(UPDATES),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        timeout=120,
    )
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def eager() -> dict:
    return run("import aiogram")


@pytest.fixture(scope="module")
def deferred() -> dict:
    return run("import bot")


def test_types_are_deferred_only_through_bot(eager: dict, deferred: dict) -> None:
    assert eager["complete_at_import"] is True
    assert deferred["complete_at_import"] is False


def test_updates_validate_the_same(eager: dict, deferred: dict) -> None:
    assert deferred["updates"] == eager["updates"]
    assert deferred["updates"][0]["message"]["reply_to_message"]["text"] == "earlier"
    assert deferred["updates"][2]["message_reaction"]["new_reaction"][0]["emoji"] == "👍"


def test_bad_updates_are_refused_the_same(eager: dict, deferred: dict) -> None:
    assert deferred["bad"] == eager["bad"]
    assert [name for name, _ in deferred["bad"]] == ["ValidationError", "ValidationError"]


def test_methods_serialise_the_same(eager: dict, deferred: dict) -> None:
    assert deferred["method"] == eager["method"]
    assert deferred["method"]["reply_markup"]["inline_keyboard"][0][0]["url"] == "https://x.y"
