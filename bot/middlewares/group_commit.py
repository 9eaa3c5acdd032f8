"""Group commit: updates handled concurrently share one transaction and one COMMIT.

Each update's work runs in its own SAVEPOINT inside the batch's transaction, so an update whose
handler fails is rolled back alone (and reported to its caller) while the others go on. Every
caller learns its outcome only after the COMMIT, so a 2xx still means "durably recorded".
Batches form by themselves: while one batch runs, the updates that arrive queue up and become
the next batch. On SQLite, whose single writer takes one transaction at a time, one batch runs
at a time. A database that takes concurrent writers (PostgreSQL) may have a few batches in
flight (`in_flight`): while one batch's statements and COMMIT run on the database server, the
gateway's CPU handles the next batch instead of waiting. A further batch opens only when at
least half a batch of updates is waiting, so that batches stay full. Batches in flight
together lock the rows they share in turn, as any concurrent transactions do. When work
without a SAVEPOINT (or a deferred call) loses a deadlock to another batch, the database gives
up the whole transaction, and the batch runs again; an update in its own SAVEPOINT that loses
one fails alone, and Telegram sends it again. When a
batch has answered more callers than are waiting for the next one, the next one waits for them a
little (`LINGER_SECONDS`, ended by the first new update): Telegram sends the next update on a
connection as soon as the last one is answered, so this joins the two halves that would otherwise
alternate as two half-size batches, each paying a batch's fixed cost (a transaction, its claim,
its COMMIT, a few milliseconds of CPU) for half as many updates.

Work may `defer` part of itself to the end of its batch, where one call handles the items of
every update of the batch together (fewer round trips). An update whose work fails has its
items dropped with its SAVEPOINT. Work that hardly ever fails may also run without one. A
deferred call that fails, or work without a SAVEPOINT that fails, fails the whole batch, and
for a while after that every update runs in its own SAVEPOINT and defers nothing, so
Telegram's retries of that batch are handled one by one.

Work may carry a key (an update's id) that must be claimed, in the same transaction, before the
work runs, and that nobody claims twice: the keys of the batch's work without a SAVEPOINT are
claimed together in one statement at the start of the batch (if that work fails, the whole batch
and its claims roll back); any other key is claimed inside its work's SAVEPOINT.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import InterfaceError, InternalError, OperationalError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from core.sqlite_driver import begin_immediate

log = logging.getLogger(__name__)
AfterCommit = list[Callable[[], None]]
Work = Callable[[AsyncSession, AfterCommit], Awaitable[Any]]
# The database itself failed (locked, unreachable, deadlock): every update of the batch would
# fail the same way, so the batch stops instead of waiting out the failure once per update.
BATCH_FATAL = (OperationalError, InterfaceError, InternalError)
# PostgreSQL's "deadlock detected" and "could not serialize access": the transaction lost a
# conflict with a concurrent one (another batch in flight) and may simply run again.
CONFLICT_SQLSTATES = frozenset({"40P01", "40001"})
Flush = Callable[[AsyncSession, list[Any]], Awaitable[None]]
# Claims keys for good (in the session's transaction); returns those nobody had claimed before.
Claim = Callable[[AsyncSession, list[Any]], Awaitable[set[Any]]]
# Where `defer` finds the running update's staged items (the session is the batch's).
_STAGED = "townsquare.group_commit.staged"
# How long, after a failure that sank a whole batch, every update runs in its own SAVEPOINT
# and defers nothing, and no further batch opens while one is in flight (so Telegram's
# retries of that batch are handled one by one).
CAREFUL_SECONDS = 60.0
# How long the next batch waits, at most, for the callers the last one answered (see above).
LINGER_SECONDS = 0.002


def defer(session: AsyncSession, flush: Flush, item: Any) -> bool:
    """Queues `item` for `flush(session, items)`, which runs once per batch, after the last
    update's work and before the COMMIT, with the items of the batch's successful updates.

    Returns False (nothing queued; the caller does the work itself) outside a batch, or for a
    while after a failure sank a batch.
    """
    staged: list[tuple[Flush, Any]] | None = session.info.get(_STAGED)
    if staged is None:
        return False
    staged.append((flush, item))
    return True


class _ClaimedBefore:
    """What `GroupCommit.run` returns for keyed work whose key was claimed before."""

    def __repr__(self) -> str:
        return "CLAIMED_BEFORE"


CLAIMED_BEFORE = _ClaimedBefore()


@dataclass
class _Job:
    work: Work
    done: asyncio.Future[Any]
    isolated: bool = True
    key: Any = None
    # Whether the key was claimed for this work; None until claimed.
    fresh: bool | None = None
    after_commit: AfterCommit = field(default_factory=list)
    result: Any = None
    error: BaseException | None = None

    def reset(self) -> None:
        """Forgets a rolled-back attempt, so that the work can run again."""
        self.fresh = None
        self.after_commit = []
        self.result = None
        self.error = None


class GroupCommit:
    """Runs units of work in shared transactions, one SAVEPOINT each, one COMMIT per batch."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        max_batch: int = 64,
        claim: Claim | None = None,
        in_flight: int = 1,
    ):
        if in_flight < 1:
            msg = "in_flight must be at least 1"
            raise ValueError(msg)
        self._sessions = sessions
        self._claim = claim
        self._max_batch = max_batch
        self._in_flight = in_flight
        self._queue: deque[_Job] = deque()
        # The tasks that run batches, one batch at a time each.
        self._drains: set[asyncio.Task[None]] = set()
        self._careful_until = 0.0
        # Set while the next batch waits for new updates; the next `run` call resolves it.
        self._arrival: asyncio.Future[None] | None = None

    async def run(self, work: Work, *, isolated: bool = True, key: Any = None) -> Any:
        """Runs `work(session, after_commit)` in the next batch and returns its result once the
        batch has committed; `after_commit` callbacks run only if it did. Raises what `work`
        raised, or the batch's failure (nothing of the update is then committed).

        `isolated=False` spares the SAVEPOINT (two round trips) for work that hardly ever
        fails: if it does, the whole batch fails instead of that update alone.
        With a `key` (the group commit's `claim` is then required), the work runs only if the
        key is claimed now, and `CLAIMED_BEFORE` is returned otherwise.
        """
        if key is not None and self._claim is None:
            msg = "keyed work needs a GroupCommit with a claim"
            raise ValueError(msg)
        job = _Job(work, asyncio.get_running_loop().create_future(), isolated, key)
        self._queue.append(job)
        if self._arrival is not None:
            _resolve(self._arrival)
        if self._wants_drain():
            drain = asyncio.create_task(self._run_batches())
            self._drains.add(drain)
            drain.add_done_callback(self._drains.discard)
        return await asyncio.shield(job.done)

    def _wants_drain(self) -> bool:
        """Whether the queue needs another batch runner: none runs, or another may run (not
        after a failure: see `CAREFUL_SECONDS`) and at least half a batch is waiting."""
        running = sum(not drain.done() for drain in self._drains)
        if not running:
            return True
        if time.monotonic() < self._careful_until:
            return False
        return running < self._in_flight and 2 * len(self._queue) >= self._max_batch

    async def _run_batches(self) -> None:
        answered = 0
        while self._queue:
            if len(self._queue) < min(answered, self._max_batch):
                await self._linger()
                if not self._queue:  # another batch in flight took them
                    break
            size = min(len(self._queue), self._max_batch)
            batch = [self._queue.popleft() for _ in range(size)]
            try:
                await self._run_batch_again_on_conflict(batch)
            except BaseException as exc:
                _fail(batch, exc)
                if not isinstance(exc, Exception):
                    raise
            else:
                _settle(batch)
            answered = size

    async def _linger(self) -> None:
        """Waits for the next new update, `LINGER_SECONDS` at most, then lets the updates that
        arrived with it (in the same turn of the event loop) join the queue too."""
        loop = asyncio.get_running_loop()
        # Batches in flight that wait at the same time wait for the same arrival.
        arrival = self._arrival
        if arrival is None:
            arrival = self._arrival = loop.create_future()
        timer = loop.call_later(LINGER_SECONDS, _resolve, arrival)
        try:
            await arrival
        finally:
            timer.cancel()
            if self._arrival is arrival:
                self._arrival = None
        await asyncio.sleep(0)

    async def _run_batch_again_on_conflict(self, batch: list[_Job]) -> None:
        """Runs the batch; once more if it lost a conflict with a batch in flight beside it
        (its transaction rolled back whole, and the other one has its locks now)."""
        try:
            await self._run_batch(batch)
        except Exception as exc:
            if not lost_conflict(exc):
                raise
            log.info("a batch of %d updates lost a lock conflict; running it again", len(batch))
            for job in batch:
                job.reset()
            await self._run_batch(batch)

    async def _run_batch(self, batch: list[_Job]) -> None:
        async with self._sessions() as session, session.begin():
            connection = await session.connection()
            if connection.dialect.name == "sqlite":
                # The SQLite driver opens transactions lazily, before its first INSERT: without
                # an explicit BEGIN the first SAVEPOINT would open it and its RELEASE would
                # commit. IMMEDIATE also takes the write lock with the batch's first statement
                # (the claim or a SAVEPOINT), so a locked database fails the batch before any
                # work.
                await begin_immediate(connection)
            if time.monotonic() >= self._careful_until:
                await self._claim_together(session, [j for j in batch if not j.isolated])
            deferred: dict[Flush, list[Any]] = {}
            for job in batch:
                for flush, item in await self._run_job(session, job):
                    deferred.setdefault(flush, []).append(item)
            await self._flush(session, deferred)

    async def _run_job(self, session: AsyncSession, job: _Job) -> list[tuple[Flush, Any]]:
        """Runs one update's work; returns what it deferred (nothing if it failed alone)."""
        careful = time.monotonic() < self._careful_until
        staged: list[tuple[Flush, Any]] = []
        if not careful:
            session.info[_STAGED] = staged
        try:
            if job.isolated or careful:
                async with session.begin_nested():
                    job.result = await self._attempt(session, job)
            else:
                job.result = await self._attempt(session, job)
        except BATCH_FATAL:
            raise
        except Exception as exc:
            if not (job.isolated or careful):
                # Whatever it wrote stays in the transaction: nothing of the batch commits. A
                # lost conflict is no update's fault: the batch runs again, not carefully.
                if not lost_conflict(exc):
                    self._careful_until = time.monotonic() + CAREFUL_SECONDS
                raise
            # Its SAVEPOINT is rolled back; the rest of the batch commits without it.
            job.error = exc
            job.after_commit.clear()
            return []
        finally:
            session.info.pop(_STAGED, None)
        return staged

    async def _claim_together(self, session: AsyncSession, jobs: list[_Job]) -> None:
        """Claims the keys of `jobs` in one call; a key listed twice is fresh for its first."""
        keyed = [job for job in jobs if job.key is not None]
        if not keyed or self._claim is None:
            return
        fresh = await self._claim(session, list(dict.fromkeys(job.key for job in keyed)))
        for job in keyed:
            job.fresh = job.key in fresh
            fresh.discard(job.key)

    async def _attempt(self, session: AsyncSession, job: _Job) -> Any:
        if job.fresh is None and job.key is not None:
            await self._claim_together(session, [job])
        if job.fresh is False:
            return CLAIMED_BEFORE
        return await job.work(session, job.after_commit)

    async def _flush(self, session: AsyncSession, deferred: dict[Flush, list[Any]]) -> None:
        try:
            for flush, items in deferred.items():
                await flush(session, items)
        except BaseException as exc:
            if not lost_conflict(exc):
                self._careful_until = time.monotonic() + CAREFUL_SECONDS
            raise


def lost_conflict(exc: BaseException) -> bool:
    """Whether the database gave up `exc`'s transaction for a concurrent one's sake."""
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in CONFLICT_SQLSTATES


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _settle(batch: list[_Job]) -> None:
    for job in batch:
        if job.error is None:
            for callback in job.after_commit:
                callback()
        if job.done.done():
            continue
        if job.error is not None:
            job.done.set_exception(job.error)
        else:
            job.done.set_result(job.result)


def _fail(batch: list[_Job], exc: BaseException) -> None:
    log.warning("a batch of %d updates failed: %s", len(batch), exc)
    for job in batch:
        if not job.done.done():
            job.done.set_exception(job.error or exc)
