"""Webhook ingestion through the real HTTP endpoint, full stack vs a no-op handler.

Both servers run at once, each on its own database, and are loaded in turns, one sample each
per round: this shared machine's speed drifts by a third within minutes, and a ratio of two
figures measured minutes apart showed that drift more than the handlers' cost.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, select

from benchmarks.bench_startup import process_cpu
from benchmarks.harness import Row
from benchmarks.load import MEMBERS
from core.models import ChatMessage
from core.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_ADMIN = os.environ.get(
    "TOWNSQUARE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
# Rounds of `in_turns`: one sample of each server per round.
SAMPLES = 9
PER_SAMPLE = 3000
# Updates sent to each server before the samples: every member of the load writes twice. A
# member's first messages take the slow way (its member, membership and scorer rows are new),
# and with fewer the first round measured that rather than a group in its steady state.
WARM_UP = 2 * MEMBERS
# The first update of the samples (update ids 1 to WARM_UP are the warm-up's).
FIRST = WARM_UP + 1
# Connections at once: the `max_connections` the gateway registers its webhook with.
CONCURRENCY = int(Settings.model_fields["webhook_max_connections"].default)
# Imports are slow on a busy machine without cached bytecode.
START_TIMEOUT = 180.0


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(
    base: str, process: subprocess.Popen[bytes], timeout: float = START_TIMEOUT
) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            msg = f"server exited with {process.returncode}"
            raise RuntimeError(msg)
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return time.perf_counter() - started
        except httpx.TransportError:
            pass
        time.sleep(0.02)
    msg = f"{base} not healthy after {timeout}s"
    raise TimeoutError(msg)


# The process of each running server, by base URL (for `process_cpu`).
SERVER_PIDS: dict[str, int] = {}


@contextmanager
def server(url: str, handler: str) -> Iterator[str]:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="townsquare-bench-") as data_dir:
        process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.serve_gateway", url, str(port), handler, data_dir],
            cwd=ROOT,
        )
        base = f"http://127.0.0.1:{port}"
        SERVER_PIDS[base] = process.pid
        try:
            wait_healthy(base, process)
            yield base
        finally:
            SERVER_PIDS.pop(base, None)
            process.terminate()
            process.wait(timeout=20)


def load(base: str, start: int, count: int) -> float:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.load",
            f"{base}/telegram/webhook",
            str(start),
            str(count),
            str(CONCURRENCY),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip())


def sync_url(url: str) -> str:
    return url.replace("+aiosqlite", "").replace("+asyncpg", "+psycopg2")


def stored_messages(url: str) -> int:
    if "asyncpg" in url:
        return asyncio.run(_pg_count(url))
    engine = create_engine(sync_url(url))
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ChatMessage)).scalar_one())


async def _pg_count(url: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        return int(await conn.fetchval("SELECT count(*) FROM chat_messages"))
    finally:
        await conn.close()


async def _pg_admin(statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_ADMIN)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextmanager
def database(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite+aiosqlite:///{tmp}/bench.db"
        return
    name = f"townsquare_bench_{secrets.token_hex(4)}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def ledger_check(url: str, sent: int) -> str:
    """The ledger's count and sum against a date-order replay of the same updates."""
    from benchmarks.bench_engagement import check_ledger  # imports this module

    starts = [FIRST + i * PER_SAMPLE for i in range(SAMPLES)]
    update_ids = [*range(1, FIRST), *(s + i for s in starts for i in range(PER_SAMPLE))]
    assert len(update_ids) == sent
    return check_ledger(url, update_ids)


@contextmanager
def side_by_side(kind: str) -> Iterator[tuple[str, str, str]]:
    """A no-op server and a full one, each on its own new database, both up at once:
    (no-op base URL, full base URL, the full server's database URL)."""
    with (
        database(kind) as noop_url,
        database(kind) as full_url,
        server(noop_url, "noop") as noop,
        server(full_url, "full") as full,
    ):
        yield noop, full, full_url


@dataclass
class Turns:
    """What `in_turns` measured, sample by sample: updates per second, and the CPU each server
    process spent per update (µs, all its threads), steadier than the rates when the machine is
    shared, as a server's CPU is its own whatever else runs."""

    noop: list[float] = field(default_factory=list)
    full: list[float] = field(default_factory=list)
    noop_cpu: list[float] = field(default_factory=list)
    full_cpu: list[float] = field(default_factory=list)

    def notes(self) -> list[str]:
        """The round-by-round rate ratios, and the CPU per update with its ratio."""
        noop_cpu, full_cpu = statistics.median(self.noop_cpu), statistics.median(self.full_cpu)
        cpu = (
            f"gateway CPU per update (median): noop {noop_cpu:.0f} µs, full {full_cpu:.0f} µs;"
            f" noop/full {noop_cpu / full_cpu:.2f}"
        )
        return [paired_note(self.noop, self.full), cpu]


def in_turns(noop: str, full: str, starts: list[int], count: int) -> Turns:
    """Both servers sample by sample in turns (the no-op first in even rounds, the full one
    first in odd ones), so that a change in the machine's speed during the run reaches both
    alike. Only the server being loaded is busy; the other waits idle."""
    turns = Turns()
    samples = {noop: (turns.noop, turns.noop_cpu), full: (turns.full, turns.full_cpu)}
    for i, start in enumerate(starts):
        for base in (noop, full) if i % 2 == 0 else (full, noop):
            rates, cpu = samples[base]
            before = process_cpu(SERVER_PIDS[base])
            rates.append(load(base, start, count))
            cpu.append((process_cpu(SERVER_PIDS[base]) - before) / count * 1e6)
    return turns


def paired_note(noop: list[float], full: list[float]) -> str:
    """The full/no-op ratio of each round of `in_turns`."""
    ratios = [f / n for n, f in zip(noop, full, strict=True)]
    listed = ", ".join(f"{r:.2f}" for r in ratios)
    return f"full/noop round by round: {listed} (median {statistics.median(ratios):.2f})"


def ingestion(kind: str) -> list[Row]:
    starts = [FIRST + i * PER_SAMPLE for i in range(SAMPLES)]
    with side_by_side(kind) as (noop, full, url):
        load(noop, 1, WARM_UP)
        load(full, 1, WARM_UP)
        turns = in_turns(noop, full, starts, PER_SAMPLE)
        stored = stored_messages(url)
        expected = WARM_UP + SAMPLES * PER_SAMPLE
        if stored != expected:
            msg = f"{kind}: {stored} messages stored, {expected} sent"
            raise AssertionError(msg)
        notes = [
            *turns.notes(),
            f"{stored} messages stored for {expected} sent (exact)",
            ledger_check(url, expected),
        ]
    return [
        Row(name=f"webhook {kind} noop", unit="updates/s", samples=turns.noop),
        Row(
            name=f"webhook {kind} full",
            unit="updates/s",
            samples=turns.full,
            peer=f"webhook {kind} noop",
            target=">= 1500/s, >= 0.6x noop",
            notes=notes,
        ),
    ]


def collect() -> list[Row]:
    return [row for kind in ("sqlite", "postgres") for row in ingestion(kind)]
