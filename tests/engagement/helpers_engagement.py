"""Shared by the engagement tests: Telegram update builders and ledger readers."""

from __future__ import annotations

import asyncio
import importlib.util
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from core import repo
from core.db import create_engine, session_factory, transaction
from core.migrate import MIGRATIONS, upgrade
from core.models_engagement import LedgerEntry
from core.models_totals import MemberTotal
from engagement import ledger
from engagement.ingest import IncomingMessage, score_message

BASE_DATE = 1_763_600_000  # 2025-11-20 00:53 UTC, safely in the past
GROUP = {"id": -1007000001, "type": "supergroup", "title": "Town"}
# Ordinary group messages, distinct enough that none is a near-duplicate of another.
TEXTS = [
    "good morning everyone, coffee time",
    "did anybody read the release notes yet",
    "I think the new version fixes the bug",
    "let us meet on Thursday to discuss it",
    "the documentation needs more examples",
    "who wants to review my pull request",
]


@asynccontextmanager
async def group_sessions(url: str, chat_id: int) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on a freshly migrated database that knows the group `chat_id`."""
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url)
    made = session_factory(engine)
    async with transaction(made) as session:
        await repo.upsert_chat(
            session=session, id=chat_id, type="supergroup", title="T", username=None
        )
    try:
        yield made
    finally:
        await engine.dispose()


async def post(
    sessions: async_sessionmaker[AsyncSession],
    *,
    chat_id: int,
    message_id: int,
    member_id: int,
    sent_at: datetime,
    text: str,
) -> ledger.Entry | None:
    """Scores one group message as the bot does when it arrives (update id 10,000 + its id);
    returns the message's own ledger entry, if it has one."""
    msg = IncomingMessage(
        chat_id=chat_id,
        message_id=message_id,
        member_id=member_id,
        update_id=10_000 + message_id,
        sent_at=sent_at,
        text=text,
    )
    async with transaction(sessions) as session:
        scored = await score_message(session=session, msg=msg)
    return scored.entries[0] if scored.entries else None


def migration(prefix: str) -> ModuleType:
    """The migration module whose file name starts with `prefix` (for its snapshots)."""
    path = next(Path(MIGRATIONS, "versions").glob(f"{prefix}_*.py"))
    spec = importlib.util.spec_from_file_location(f"revision_{prefix}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def user(user_id: int, *, bot: bool = False, username: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"id": user_id, "is_bot": bot, "first_name": f"User{user_id}"}
    if username:
        data["username"] = username
    return data


def message(
    message_id: int,
    *,
    user_id: int = 501,
    text: str | None = "a perfectly ordinary message",
    date: int = BASE_DATE,
    chat: dict[str, Any] | None = None,
    reply_to: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "message_id": message_id,
        "date": date,
        "chat": chat or GROUP,
        "from": user(user_id),
        **extra,
    }
    if text is not None:
        body["text"] = text
    if reply_to is not None:
        body["reply_to_message"] = reply_to
    return body


def message_update(update_id: int, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("message_id", update_id)
    return {"update_id": update_id, "message": message(kwargs.pop("message_id"), **kwargs)}


def edited_update(update_id: int, **kwargs: Any) -> dict[str, Any]:
    body = message(kwargs.pop("message_id"), **kwargs)
    body["edit_date"] = body["date"] + 30
    return {"update_id": update_id, "edited_message": body}


def reaction_update(
    update_id: int,
    *,
    message_id: int,
    user_id: int,
    date: int = BASE_DATE,
    emoji: str = "👍",
    old: str | None = None,
    chat: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message_reaction": {
            "chat": chat or GROUP,
            "message_id": message_id,
            "user": user(user_id),
            "date": date,
            "old_reaction": [{"type": "emoji", "emoji": old}] if old else [],
            "new_reaction": [{"type": "emoji", "emoji": emoji}] if emoji else [],
        },
    }


def join_update(
    update_id: int,
    *,
    user_id: int,
    date: int = BASE_DATE,
    link_creator: dict[str, Any] | None = None,
    link_name: str | None = None,
    chat: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "chat": chat or GROUP,
        "from": user(user_id),
        "date": date,
        "old_chat_member": {"status": "left", "user": user(user_id)},
        "new_chat_member": {"status": "member", "user": user(user_id)},
    }
    if link_creator is not None:
        body["invite_link"] = {
            "invite_link": "https://t.me/+abcdef",
            "creator": link_creator,
            "creates_join_request": False,
            "is_primary": False,
            "is_revoked": False,
            **({"name": link_name} if link_name else {}),
        }
    return {"update_id": update_id, "chat_member": body}


def bot_left_update(
    update_id: int, *, bot_id: int, chat: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "my_chat_member": {
            "chat": chat or GROUP,
            "from": user(42),
            "date": BASE_DATE,
            "old_chat_member": {"status": "member", "user": user(bot_id, bot=True)},
            "new_chat_member": {"status": "left", "user": user(bot_id, bot=True)},
        },
    }


async def ledger_rows(sessions: async_sessionmaker[AsyncSession]) -> list[LedgerEntry]:
    async with sessions() as session:
        stmt = select(LedgerEntry).order_by(LedgerEntry.id)  # type: ignore[arg-type]
        return list((await session.exec(stmt)).scalars().all())  # type: ignore[call-overload]


def raw_view(rows: list[LedgerEntry]) -> list[tuple[Any, ...]]:
    """The rows themselves, minus the write time and the row id."""
    return sorted(
        (
            r.chat_id,
            r.cause,
            r.revision,
            r.member_id,
            r.epoch_id,
            r.kind,
            r.rule,
            r.points,
            r.rules_version,
            r.occurred_at,
        )
        for r in rows
    )


def netted(rows: list[LedgerEntry]) -> dict[tuple[int, str, int], tuple[int, int, str, str]]:
    """Each cause's net outcome, `(chat, cause, epoch) -> (member, points, kind, rule)`.

    Every message has a decision, so its final rule (its highest revision's) is part of the
    outcome; other causes count only if their rows leave points (a credit taken back by a
    later correction is the same outcome as no credit at all).
    """
    latest: dict[tuple[int, str, int], tuple[int, str]] = {}
    total: defaultdict[tuple[int, str, int], int] = defaultdict(int)
    owner: dict[tuple[int, str, int], tuple[int, str]] = {}
    for r in rows:
        key = (r.chat_id, r.cause, r.epoch_id)
        total[key] += r.points
        owner[key] = (r.member_id, r.kind)
        if key not in latest or r.revision > latest[key][0]:
            latest[key] = (r.revision, r.rule)
    return {
        key: (member, total[key], kind, latest[key][1] if kind == "message" else kind)
        for key, (member, kind) in owner.items()
        if kind == "message" or total[key]
    }


TotalsKey = tuple[int, int, str, str, str]


def expected_totals(rows: list[LedgerEntry]) -> dict[TotalsKey, tuple[int, int, int, int]]:
    """The running totals recomputed from ledger rows, for checking the stored ones:
    `(epoch, member, kind, rule, app) -> (points, entries, counted, not_counted)`.

    A message counts under the rule of its highest revision: as counted when its net points
    are positive, as not counted otherwise."""
    sums: defaultdict[TotalsKey, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    net: defaultdict[tuple[int, int, int, str], int] = defaultdict(int)
    final: dict[tuple[int, int, int, str], tuple[int, str]] = {}
    for r in rows:
        app = r.cause.split(":")[1] if r.kind == "app" else ""
        row = sums[(r.epoch_id, r.member_id, r.kind, r.rule, app)]
        row[0] += r.points
        row[1] += 1
        if r.kind == "message":
            message = (r.epoch_id, r.member_id, r.chat_id, r.cause)
            net[message] += r.points
            if message not in final or r.revision > final[message][0]:
                final[message] = (r.revision, r.rule)
    for message, (_, rule) in final.items():
        sums[(message[0], message[1], "message", rule, "")][2 if net[message] > 0 else 3] += 1
    return {key: (p, n, yes, no) for key, (p, n, yes, no) in sums.items()}


async def stored_totals(
    sessions: async_sessionmaker[AsyncSession],
) -> dict[TotalsKey, tuple[int, int, int, int]]:
    """The running totals as the database keeps them."""
    t = MemberTotal.__table__  # type: ignore[attr-defined]
    async with sessions() as session:
        rows = (await (await session.connection()).execute(select(t))).all()
    return {
        (r.epoch_id, r.member_id, r.kind, r.rule, r.app_id): (
            r.points,
            r.entries,
            r.counted,
            r.not_counted,
        )
        for r in rows
    }


async def assert_totals_match_the_ledger(sessions: async_sessionmaker[AsyncSession]) -> None:
    """The stored running totals are exactly what the ledger's rows add up to."""
    assert await stored_totals(sessions) == expected_totals(await ledger_rows(sessions))
