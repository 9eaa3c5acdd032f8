"""Group commit: concurrent updates share a transaction, one SAVEPOINT each, on both databases."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiogram import Bot, F, Router
from aiogram.types import Message, Update
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.dispatcher import create_dispatcher
from bot.middlewares.database import batches_in_flight, claim_updates
from bot.middlewares.group_commit import CLAIMED_BEFORE, GroupCommit, defer
from core import repo
from core.db import create_engine, session_factory
from core.migrate import upgrade
from core.models import Member, ProcessedUpdate
from core.settings import Settings


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await asyncio.to_thread(upgrade, database_url)
    engine = create_engine(database_url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


async def stored(sessions: async_sessionmaker[AsyncSession]) -> set[int]:
    async with sessions() as session:
        rows = await session.exec(select(ProcessedUpdate.update_id))  # type: ignore[call-overload]
        return {int(r[0]) for r in rows}


def marking(update_id: int, seen: list[int], *, fail: bool = False) -> Any:
    """Work that records an update (and remembers its session), failing afterwards if asked."""

    async def work(session: AsyncSession, after_commit: list[Callable[[], None]]) -> int:
        await repo.mark_update(session=session, bot_id=1, update_id=update_id, kind="message")
        seen.append(id(session))
        after_commit.append(lambda: seen.append(-update_id))
        if fail:
            msg = f"handler of update {update_id} failed"
            raise RuntimeError(msg)
        return update_id

    return work


async def test_one_failing_update_does_not_sink_the_batch(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    commits = GroupCommit(sessions)
    seen: list[int] = []
    works = [marking(i, seen, fail=i == 3) for i in range(1, 7)]
    results = await asyncio.gather(*(commits.run(w) for w in works), return_exceptions=True)
    assert [r if not isinstance(r, Exception) else "failed" for r in results] == [
        1,
        2,
        "failed",
        4,
        5,
        6,
    ]
    assert isinstance(results[2], RuntimeError)
    # All six ran in one session (one transaction); the failed one was rolled back alone,
    # and only the committed ones ran their after-commit callbacks.
    assert len({s for s in seen if s > 0}) == 1
    assert sorted(-s for s in seen if s < 0) == [1, 2, 4, 5, 6]
    assert await stored(sessions) == {1, 2, 4, 5, 6}


async def test_a_failing_database_fails_the_whole_batch(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A database error is not one update's problem: nothing of the batch is committed."""
    commits = GroupCommit(sessions)
    seen: list[int] = []

    async def broken(session: AsyncSession, after_commit: list[Callable[[], None]]) -> None:
        raise OperationalError("SELECT 1", {}, Exception("database is locked"))

    works = [marking(1, seen), broken, marking(2, seen)]
    results = await asyncio.gather(*(commits.run(w) for w in works), return_exceptions=True)
    assert all(isinstance(r, OperationalError) for r in results)
    assert not [s for s in seen if s < 0]
    assert await stored(sessions) == set()
    # The next batch starts afresh.
    assert await commits.run(marking(1, seen)) == 1
    assert await stored(sessions) == {1}


async def test_replayed_update_in_one_batch_counts_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    commits = GroupCommit(sessions)
    counted: list[bool] = []

    async def mark(session: AsyncSession, after_commit: list[Callable[[], None]]) -> None:
        counted.append(
            await repo.mark_update(session=session, bot_id=1, update_id=9, kind="message")
        )

    await asyncio.gather(*(commits.run(mark) for _ in range(4)))
    assert counted == [True, False, False, False]
    assert await stored(sessions) == {9}


def counting(update_id: int, ran: list[int], *, fail: bool = False) -> Any:
    """Work that leaves the update's mark to its key and fails if asked."""

    async def work(session: AsyncSession, after_commit: list[Callable[[], None]]) -> int:
        ran.append(update_id)
        if fail:
            msg = f"handler of update {update_id} failed"
            raise RuntimeError(msg)
        return update_id

    return work


@pytest.mark.parametrize("isolated", [True, False])
async def test_keyed_work_runs_once_per_key(
    sessions: async_sessionmaker[AsyncSession], isolated: bool
) -> None:
    commits = GroupCommit(sessions, claim=claim_updates)
    ran: list[int] = []
    keyed = [(5, (1, 5, "message")), (5, (1, 5, "message")), (6, (1, 6, "message"))]
    results = await asyncio.gather(
        *(commits.run(counting(i, ran), isolated=isolated, key=k) for i, k in keyed)
    )
    assert results == [5, CLAIMED_BEFORE, 6]
    assert ran == [5, 6]
    assert await stored(sessions) == {5, 6}
    # A later delivery of the same update, alone in its batch, is claimed before too.
    assert await commits.run(counting(5, ran), isolated=isolated, key=(1, 5, "message")) is (
        CLAIMED_BEFORE
    )
    assert ran == [5, 6]


async def test_claims_of_a_batch_that_fails_roll_back_with_it(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    commits = GroupCommit(sessions, claim=claim_updates)
    ran: list[int] = []
    results = await asyncio.gather(
        commits.run(counting(1, ran), isolated=False, key=(1, 1, "message")),
        commits.run(counting(2, ran, fail=True), isolated=False, key=(1, 2, "message")),
        commits.run(counting(3, ran, fail=True), key=(1, 3, "message")),
        return_exceptions=True,
    )
    assert all(isinstance(r, RuntimeError) for r in results)
    assert await stored(sessions) == set()
    # Telegram's retries, handled one by one now: each failure stays its own.
    results = await asyncio.gather(
        commits.run(counting(1, ran), isolated=False, key=(1, 1, "message")),
        commits.run(counting(2, ran, fail=True), isolated=False, key=(1, 2, "message")),
        commits.run(counting(3, ran, fail=True), key=(1, 3, "message")),
        return_exceptions=True,
    )
    assert results[0] == 1
    assert isinstance(results[1], RuntimeError)
    assert isinstance(results[2], RuntimeError)
    assert await stored(sessions) == {1}


async def test_keyed_work_needs_a_claim(sessions: async_sessionmaker[AsyncSession]) -> None:
    with pytest.raises(ValueError, match="claim"):
        await GroupCommit(sessions).run(counting(1, []), key=(1, 1, "message"))


async def test_work_without_a_savepoint_that_fails_sinks_the_batch_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    commits = GroupCommit(sessions)
    seen: list[int] = []
    results = await asyncio.gather(
        commits.run(marking(1, seen)),
        commits.run(marking(2, seen), isolated=False),
        commits.run(marking(3, seen, fail=True), isolated=False),
        return_exceptions=True,
    )
    assert all(isinstance(r, RuntimeError) for r in results)
    assert await stored(sessions) == set()
    assert not [s for s in seen if s < 0], "no after-commit callback ran"
    # Telegram's retries come in careful mode: the failing update fails alone.
    results = await asyncio.gather(
        commits.run(marking(2, seen), isolated=False),
        commits.run(marking(3, seen, fail=True), isolated=False),
        return_exceptions=True,
    )
    assert results[0] == 2
    assert isinstance(results[1], RuntimeError)
    assert await stored(sessions) == {2}


def deferring(update_id: int, *, fail: bool = False) -> Any:
    """Work that records an update and leaves a second row to the end of the batch."""

    async def work(session: AsyncSession, after_commit: list[Callable[[], None]]) -> bool:
        await repo.mark_update(session=session, bot_id=1, update_id=update_id, kind="message")
        deferred = defer(session, mark_later, update_id + 100)
        if not deferred:
            await mark_later(session, [update_id + 100])
        if fail:
            msg = f"handler of update {update_id} failed"
            raise RuntimeError(msg)
        return deferred

    return work


async def mark_later(session: AsyncSession, update_ids: list[int]) -> None:
    for update_id in update_ids:
        await repo.mark_update(session=session, bot_id=1, update_id=update_id, kind="later")


async def test_deferred_work_runs_once_per_batch_for_the_updates_that_succeeded(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    commits = GroupCommit(sessions)
    works = [deferring(i, fail=i == 2) for i in (1, 2, 3)]
    results = await asyncio.gather(*(commits.run(w) for w in works), return_exceptions=True)
    assert results[0] is True and results[2] is True
    assert isinstance(results[1], RuntimeError)
    assert await stored(sessions) == {1, 3, 101, 103}
    async with sessions() as session:
        assert not defer(session, mark_later, 1), "outside a batch nothing is deferred"


async def test_failing_deferred_work_fails_the_batch_then_pauses_deferring(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    commits = GroupCommit(sessions)
    calls: list[list[int]] = []

    async def broken(session: AsyncSession, update_ids: list[int]) -> None:
        calls.append(update_ids)
        raise RuntimeError("deferred work failed")

    async def work(session: AsyncSession, after_commit: list[Callable[[], None]]) -> bool:
        await repo.mark_update(session=session, bot_id=1, update_id=7, kind="message")
        return defer(session, broken, 7)

    with pytest.raises(RuntimeError, match="deferred work failed"):
        await commits.run(work)
    assert calls == [[7]]
    assert await stored(sessions) == set()
    # Telegram's retry runs undeferred: the update is handled on its own.
    assert await commits.run(deferring(7)) is False
    assert await stored(sessions) == {7, 107}


def noting(update_id: int, batch_of: dict[int, int], then: Callable[[], None] | None = None) -> Any:
    """Work that records its update and which batch (session) it ran in, then calls `then`."""

    async def work(session: AsyncSession, after_commit: list[Callable[[], None]]) -> int:
        batch_of[update_id] = session.info.setdefault("test.batch", len(set(batch_of.values())))
        await repo.mark_update(session=session, bot_id=1, update_id=update_id, kind="message")
        if then is not None:
            then()
        return update_id

    return work


async def test_the_next_batch_waits_for_the_callers_the_last_one_answered(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Like Telegram's connections, each caller sends its next update once the last one is
    answered; a fourth update queued up while the first batch ran. The second batch takes it
    together with the callers' next updates, instead of starting with it alone."""
    commits = GroupCommit(sessions)
    batch_of: dict[int, int] = {}
    late: list[asyncio.Future[Any]] = []

    def queue_a_late_one() -> None:
        late.append(asyncio.ensure_future(commits.run(noting(99, batch_of))))

    async def connection(first: int, then: Callable[[], None] | None = None) -> None:
        assert await commits.run(noting(first, batch_of, then)) == first
        assert await commits.run(noting(first + 10, batch_of)) == first + 10

    await asyncio.gather(connection(1, queue_a_late_one), connection(2), connection(3))
    assert await late[0] == 99
    assert batch_of[1] == batch_of[2] == batch_of[3]
    assert batch_of[99] == batch_of[11] == batch_of[12] == batch_of[13] != batch_of[1]
    assert await stored(sessions) == {1, 2, 3, 11, 12, 13, 99}


async def test_a_waiting_batch_starts_when_nobody_else_sends(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    commits = GroupCommit(sessions)
    batch_of: dict[int, int] = {}
    late: list[asyncio.Future[Any]] = []

    def queue_a_late_one() -> None:
        late.append(asyncio.ensure_future(commits.run(noting(99, batch_of))))

    await asyncio.gather(
        commits.run(noting(1, batch_of, queue_a_late_one)), commits.run(noting(2, batch_of))
    )
    # Nothing else arrives: the late update's batch starts once its short wait is over.
    assert await asyncio.wait_for(late[0], timeout=30) == 99
    assert batch_of[99] != batch_of[1]
    assert await stored(sessions) == {1, 2, 99}


async def test_sync_filters_run_on_the_event_loop(
    sessions: async_sessionmaker[AsyncSession], database_url: str, tmp_path: Any
) -> None:
    """aiogram would run a magic filter in a worker thread; the dispatcher runs it inline."""
    threads: list[int] = []
    router = Router()

    def on_loop(message: Message) -> bool:
        threads.append(threading.get_ident())
        return True

    router.message.filter(F.chat.type == "supergroup", on_loop)

    @router.message()
    async def handle(message: Message) -> None:
        threads.append(-1)

    settings = Settings(mode="sandbox", data_dir=tmp_path, database_url=database_url)
    dp = create_dispatcher(
        settings=settings, sessions=sessions, handlers=lambda dp: dp.include_router(router)
    )
    for observer in router.observers.values():
        assert all(f.awaitable for f in observer._handler.filters or [])
    bot = Bot("42:test-token")
    update = Update.model_validate(
        {
            "update_id": 5,
            "message": {
                "message_id": 1,
                "date": 1_760_000_000,
                "chat": {"id": -100, "type": "supergroup", "title": "G"},
                "from": {"id": 7, "is_bot": False, "first_name": "A"},
                "text": "hello",
            },
        },
        context={"bot": bot},
    )
    await dp.feed_update(bot, update)
    await bot.session.close()
    assert threads == [threading.get_ident(), -1]
    assert await stored(sessions) == {5}


async def wait_for(check: Callable[[], bool]) -> None:
    async def poll() -> None:
        while not check():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout=30)


def holding(update_id: int, release: asyncio.Event, started: list[int]) -> Any:
    """Work that records its update, then holds its batch open until `release` is set."""

    async def work(session: AsyncSession, after_commit: list[Callable[[], None]]) -> int:
        await repo.mark_update(session=session, bot_id=1, update_id=update_id, kind="message")
        started.append(update_id)
        await release.wait()
        return update_id

    return work


@pytest.fixture
async def pg_sessions(postgres_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(postgres_url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


async def test_a_second_batch_runs_while_the_first_is_in_flight(
    pg_sessions: async_sessionmaker[AsyncSession],
) -> None:
    """On PostgreSQL two batches may be in flight: half a batch waiting opens the second one,
    which commits while the first is still busy."""
    commits = GroupCommit(pg_sessions, in_flight=2, max_batch=4)
    release, started = asyncio.Event(), []
    first = asyncio.ensure_future(commits.run(holding(1, release, started)))
    await wait_for(lambda: started == [1])
    batch_of: dict[int, int] = {}
    others = [commits.run(noting(i, batch_of)) for i in (2, 3)]
    assert await asyncio.wait_for(asyncio.gather(*others), timeout=30) == [2, 3]
    assert not first.done()
    release.set()
    assert await first == 1
    assert await stored(pg_sessions) == {1, 2, 3}


async def test_a_second_batch_waits_for_half_a_batch(
    pg_sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Fewer waiting updates than half a batch wait for the batch in flight, then run together."""
    commits = GroupCommit(pg_sessions, in_flight=2, max_batch=4)
    release, started = asyncio.Event(), []
    first = asyncio.ensure_future(commits.run(holding(1, release, started)))
    await wait_for(lambda: started == [1])
    batch_of: dict[int, int] = {}
    second = asyncio.ensure_future(commits.run(noting(2, batch_of)))
    await asyncio.sleep(0.2)
    assert batch_of == {}  # not started: one update is less than half a batch
    release.set()
    assert await asyncio.wait_for(asyncio.gather(first, second), timeout=30) == [1, 2]
    assert await stored(pg_sessions) == {1, 2}


async def test_after_a_sunk_batch_one_batch_at_a_time(
    pg_sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A failure that sank a batch turns the second batch off until the careful period ends."""
    commits = GroupCommit(pg_sessions, in_flight=2, max_batch=4)
    seen: list[int] = []
    with pytest.raises(RuntimeError):
        await commits.run(marking(9, seen, fail=True), isolated=False)
    release, started = asyncio.Event(), []
    first = asyncio.ensure_future(commits.run(holding(1, release, started)))
    await wait_for(lambda: started == [1])
    batch_of: dict[int, int] = {}
    others = [asyncio.ensure_future(commits.run(noting(i, batch_of))) for i in (2, 3)]
    await asyncio.sleep(0.2)
    assert batch_of == {}
    release.set()
    assert await asyncio.wait_for(asyncio.gather(first, *others), timeout=30) == [1, 2, 3]
    assert await stored(pg_sessions) == {1, 2, 3}


async def test_batches_in_flight_follow_the_database(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        expected = 2 if database_url.startswith("postgresql") else 1
        assert batches_in_flight(session_factory(engine)) == expected
    finally:
        await engine.dispose()


def test_in_flight_is_at_least_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        GroupCommit(async_sessionmaker(), in_flight=0)


def locking(
    update_id: int, first: int, then: int, mine: asyncio.Event, theirs: asyncio.Event
) -> Any:
    """Work that locks member `first`, waits until the other work has locked its own, then
    locks member `then`: two of them in reverse order deadlock."""

    async def work(session: AsyncSession, after_commit: list[Callable[[], None]]) -> int:
        await repo.mark_update(session=session, bot_id=1, update_id=update_id, kind="message")
        for member_id in (first, then):
            await session.exec(select(Member).where(Member.id == member_id).with_for_update())  # type: ignore[call-overload]
            mine.set()
            await theirs.wait()
        return update_id

    return work


async def test_a_batch_that_loses_a_deadlock_runs_again(
    pg_sessions: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture
) -> None:
    """Two batches in flight lock two members in reverse order: PostgreSQL rolls one back,
    which runs again once the other has committed. Both updates are handled, once each, and
    the failure does not slow the batches that follow (no careful period)."""
    async with pg_sessions() as session, session.begin():
        for member_id in (1, 2):
            await repo.upsert_member(
                session=session,
                id=member_id,
                username=None,
                first_name=f"M{member_id}",
                last_name=None,
                language_code=None,
                is_bot=False,
            )
    commits = GroupCommit(pg_sessions, in_flight=2, max_batch=2)
    a_locked, b_locked = asyncio.Event(), asyncio.Event()
    first = asyncio.ensure_future(commits.run(locking(1, 1, 2, a_locked, b_locked), isolated=False))
    await asyncio.wait_for(a_locked.wait(), timeout=30)
    second = commits.run(locking(2, 2, 1, b_locked, a_locked), isolated=False)
    with caplog.at_level("INFO", logger="bot.middlewares.group_commit"):
        results = await asyncio.wait_for(asyncio.gather(first, second), timeout=60)
    assert results == [1, 2]
    assert "lost a lock conflict; running it again" in caplog.text
    assert await stored(pg_sessions) == {1, 2}
    # No careful period: half a batch waiting opens a second batch beside a busy one.
    release, started = asyncio.Event(), []
    held = asyncio.ensure_future(commits.run(holding(3, release, started)))
    await wait_for(lambda: started == [3])
    assert await asyncio.wait_for(commits.run(noting(4, {})), timeout=30) == 4
    release.set()
    assert await held == 3
