"""The heart of "verifiable": the ledger is a function of the set of updates.

For a generated day of group updates (messages with duplicates, short texts and links, replies,
reactions, edits, a referral), fed through the real dispatcher and middlewares:

1. Delivered in date order, every message is judged once and no row is ever corrected.
2. Delivered in any order, with any updates repeated, one by one or all at once (sharing
   batches), the *netted* ledger (each cause's net points, final rule, member and epoch; see
   `helpers_engagement.netted`) is the same as in date order. Rows themselves may differ: a
   late message appends corrections.
3. Replaying any subset, in any order, any number of times, changes no row at all, even from
   a fresh process that has forgotten which updates it handled.

After every run the running totals equal what the ledger's rows add up to.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiogram.types import Update
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from bot.dispatcher import create_bot, create_dispatcher
from core import repo
from core.db import create_engine, session_factory, transaction
from core.migrate import upgrade
from core.models import ProcessedUpdate
from core.models_engagement import Campaign, Epoch
from core.settings import Settings
from engagement import rules as rules_mod
from tests.engagement.helpers_engagement import (
    BASE_DATE,
    GROUP,
    expected_totals,
    join_update,
    ledger_rows,
    message,
    netted,
    raw_view,
    reaction_update,
    stored_totals,
    user,
)

MIDDAY = BASE_DATE + 43_200  # epoch 2 starts here
TEXTS = [
    "good morning everyone, coffee time",
    "good morning everyone, coffee time!",
    "did anybody read the release notes yet",
    "let us meet on Thursday to discuss it",
    "ok",
    "https://example.com/look-at-this",
    "🔥🔥🔥",
]
MEMBERS = [501, 502, 503]


@pytest.fixture(scope="module")
def template() -> Iterator[Path]:
    """A migrated SQLite database with the group's two epochs, copied for every run."""
    folder = Path(tempfile.mkdtemp())
    path = folder / "template.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)

    async def setup() -> None:
        engine = create_engine(url)
        async with transaction(session_factory(engine)) as session:
            await repo.upsert_chat(
                session=session, id=GROUP["id"], type="supergroup", title="T", username=None
            )
            await rules_mod.ensure_initial(session=session, chat_id=GROUP["id"])
            campaign = Campaign(chat_id=GROUP["id"], name="default")
            session.add(campaign)
            await session.flush()
            midday = datetime.fromtimestamp(MIDDAY, UTC)
            for number, start, end in ((1, rules_mod.SINCE_ALWAYS, midday), (2, midday, None)):
                session.add(
                    Epoch(
                        chat_id=GROUP["id"],
                        campaign_id=campaign.id or 0,
                        number=number,
                        state="open",
                        starts_at=start,
                        ends_at=end,
                    )
                )
        await engine.dispose()

    asyncio.run(setup())
    yield path
    shutil.rmtree(folder, ignore_errors=True)


@st.composite
def days(draw: st.DrawFn) -> list[dict[str, Any]]:
    updates: list[dict[str, Any]] = []
    sent: list[dict[str, Any]] = []
    for message_id in range(1, draw(st.integers(2, 12)) + 1):
        date = BASE_DATE + draw(st.sampled_from([0, 0, 600, 43_000])) + draw(st.integers(0, 400))
        target = draw(st.sampled_from(sent)) if sent and draw(st.booleans()) else None
        body = message(
            message_id,
            user_id=draw(st.sampled_from(MEMBERS + [504])),
            text=draw(st.sampled_from(TEXTS)),
            date=max(date, target["date"]) if target else date,
            reply_to=target,
        )
        sent.append(body)
        updates.append({"message": body})
    for _ in range(draw(st.integers(0, 6))):
        target = draw(st.sampled_from(sent))
        date = target["date"] + draw(st.integers(0, 43_300))
        reactor = draw(st.sampled_from(MEMBERS))
        updates.append(
            reaction_update(0, message_id=target["message_id"], user_id=reactor, date=date)
        )
    if draw(st.booleans()):
        edited = dict(draw(st.sampled_from(sent)), text="an edit that must not earn anything")
        edited["edit_date"] = edited["date"] + 5
        updates.append({"edited_message": edited})
    if draw(st.booleans()):
        updates.append(join_update(0, user_id=504, date=BASE_DATE - 10, link_creator=user(501)))
    for update_id, update in enumerate(updates, start=1):
        update["update_id"] = update_id
    return updates


def date_of(update: dict[str, Any]) -> tuple[int, int]:
    body = next(v for k, v in update.items() if k != "update_id")
    return body["date"], update["update_id"]


async def feed(
    path: Path, updates: list[dict[str, Any]], *, forget: bool = False, together: bool = False
) -> list[Any]:
    """Feeds updates through a fresh dispatcher (a new process, as far as caches go), one after
    the other, or `together` (all at once, as concurrent webhook calls: they share batches)."""
    url = f"sqlite+aiosqlite:///{path}"
    settings_ = Settings(mode="sandbox", database_url=url, data_dir=path.parent)
    engine = create_engine(url)
    sessions = session_factory(engine)
    if forget:
        async with transaction(sessions) as session:
            await session.exec(delete(ProcessedUpdate))  # type: ignore[call-overload]
    dp = create_dispatcher(settings=settings_, sessions=sessions)
    bot = create_bot(settings_)
    try:
        parsed = [Update.model_validate(update, context={"bot": bot}) for update in updates]
        if together:
            await asyncio.gather(*(dp.feed_update(bot, update) for update in parsed))
        for update in [] if together else parsed:
            await dp.feed_update(bot, update)
        rows = await ledger_rows(sessions)
        assert await stored_totals(sessions) == expected_totals(rows)
        return rows
    finally:
        await bot.session.close()
        await engine.dispose()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(day=days(), data=st.data())
def test_the_ledger_is_a_function_of_the_set_of_updates(
    template: Path, tmp_path: Path, day: list[dict[str, Any]], data: st.DataObject
) -> None:
    in_date_order = sorted(day, key=date_of)
    shuffled = data.draw(st.permutations(day))
    repeats = data.draw(st.lists(st.sampled_from(day), max_size=8))
    subset = data.draw(st.lists(st.sampled_from(day), max_size=12))

    # A fresh folder per example: `tmp_path` is shared by all of them, and ids get reused.
    run = Path(tempfile.mkdtemp(prefix="run-", dir=tmp_path))
    ordered_db, shuffled_db, batched_db = run / "ordered.db", run / "shuffled.db", run / "b.db"
    for path in (ordered_db, shuffled_db, batched_db):
        shutil.copyfile(template, path)

    reference = asyncio.run(feed(ordered_db, in_date_order))
    assert all(row.revision == 0 for row in reference), "date order needs no correction"
    messages = [u for u in day if "message" in u and u["message"]["text"] != "ok"]
    assert len({r.cause for r in reference if r.kind == "message"}) <= len(day)
    assert messages == [] or reference

    anyhow = asyncio.run(feed(shuffled_db, [*shuffled, *repeats]))
    assert netted(anyhow) == netted(reference)

    batched = asyncio.run(feed(batched_db, [*shuffled, *repeats], together=True))
    assert netted(batched) == netted(reference)

    replayed = asyncio.run(feed(shuffled_db, subset, forget=True))
    assert raw_view(replayed) == raw_view(anyhow)
    assert [r.id for r in replayed] == [r.id for r in anyhow]
