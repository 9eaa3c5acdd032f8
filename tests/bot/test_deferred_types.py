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

from pydantic import BaseModel

complete_at_import = Update.__pydantic_complete__
{then}
stdin = sys.stdin.read()
updates = [Update.model_validate(u).model_dump(mode="json", exclude_none=True)
           for u in json.loads(stdin)]
bad = []
for broken in ({{"update_id": "x"}}, {{"update_id": 9, "message": {{"message_id": 1}}}}):
    try:
        Update.model_validate(broken)
    except Exception as exc:
        bad.append([type(exc).__name__, exc.error_count()])
markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="a", url="https://x.y")]])
method = SendMessage(chat_id=1, text="hi", reply_markup=markup).model_dump(
    mode="json", exclude_none=True, exclude_defaults=True)

# Every object's private state, with the bot it was validated with named "BOT".
BOT = object()
def privates(obj, path="", out=None):
    out = [] if out is None else out
    if isinstance(obj, BaseModel):
        private = obj.__pydantic_private__ or {{}}
        state = {{k: "BOT" if v is BOT else repr(v) for k, v in private.items()}}
        out.append([path, type(obj).__name__, state, obj.bot is BOT])
        for name in type(obj).model_fields:
            privates(getattr(obj, name), path + "." + name, out)
    elif isinstance(obj, (list, tuple)):
        for i, item in enumerate(obj):
            privates(item, path + "[" + str(i) + "]", out)
    return out
raw = json.loads(stdin)
bound = [privates(Update.model_validate(u, context={{"bot": BOT}})) for u in raw]
unbound = privates(Update.model_validate(raw[0]))
built = privates(SendMessage(chat_id=1, text="hi", reply_markup=markup))
built += privates(Update.model_construct(update_id=5))
rebound = Update.model_validate(raw[0]).as_(BOT).bot is BOT
print(json.dumps({{"complete_at_import": complete_at_import, "updates": updates,
                  "bad": bad, "method": method, "bound": bound, "unbound": unbound,
                  "built": built, "rebound": rebound}}))
"""


def run(first: str, then: str = "") -> dict:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(first=first, then=then)],
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


@pytest.fixture(scope="module")
def warmed() -> dict:
    """As the gateway runs: deferred, then warmed (objects bound to their bot directly)."""
    return run("import bot", "from bot.deferred_types import warm; warm()")


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


def test_warmed_types_validate_and_serialise_the_same(eager: dict, warmed: dict) -> None:
    for key in ("updates", "bad", "method"):
        assert warmed[key] == eager[key]


def test_objects_know_their_bot_as_before(eager: dict, deferred: dict, warmed: dict) -> None:
    """Every nested object of an update validated with a bot has that bot, and only it, as
    private state; without one, or built directly, None; `as_` binds another."""
    for key in ("bound", "unbound", "built", "rebound"):
        assert deferred[key] == eager[key]
        assert warmed[key] == eager[key]
    message = [row for row in eager["bound"][0] if row[0] == ".message"][0]
    assert message[1:] == ["Message", {"_bot": "BOT"}, True]
    assert all(row[2] == {"_bot": "BOT"} and row[3] for update in eager["bound"] for row in update)
    assert all(row[2] == {"_bot": "None"} for row in eager["unbound"] + eager["built"])
    assert eager["rebound"] is True


def test_binding_directly_changes_every_type_once() -> None:
    from aiogram.types import Message, Update

    from bot.deferred_types import _bind_bot, bind_bot_directly

    bind_bot_directly()
    assert Update.model_post_init is _bind_bot
    assert Message.model_post_init is _bind_bot
    assert bind_bot_directly() == 0


SHARED = """
from bot.deferred_types import warm
warm()
from aiogram.methods.base import Response
from aiogram.types import Message

own = Message.__pydantic_core_schema__
parts = {id(part) for part in [own["schema"], *own["definitions"]]}
found = set()
seen = set()
stack = [Response[Message].__pydantic_core_schema__]
while stack:
    node = stack.pop()
    if id(node) in seen:
        continue
    seen.add(id(node))
    found.add(id(node))
    if isinstance(node, dict):
        stack.extend(node.values())
    elif isinstance(node, list):
        stack.extend(node)
print(len(parts), len(parts & found))
"""


def test_the_reply_schema_reuses_the_built_message_schema() -> None:
    # Built from scratch instead, the reply's `Message` cost the start-up some 100 ms more.
    out = subprocess.run(
        [sys.executable, "-c", SHARED], capture_output=True, text=True, cwd=ROOT, check=True
    )
    parts, shared = map(int, out.stdout.split())
    assert parts > 10
    assert shared == parts
