"""Proof lookups through the HTTP API for a 1,000,000-leaf epoch, at 500 requests per second.

Setup (untimed): a SQLite database holding one published settlement of 1M EVM claims (the rows,
the tree's nodes and its account lookup, written the way `settle_service.close` writes them).
A gateway-like app (the claims router only) is served by uvicorn in its own process; this
process sends `GET /v1/claims/{chat}/{epoch}/proof/{address}` for random claimants on a fixed
schedule (open loop: a late answer does not delay the next request) and records each latency
from the time its request was due, so a late sender counts against the figure rather than
hiding it. Three samples of 10 s each: at 500 requests/s a single stall of the machine of
100 ms is already a sample's p99, and one sample could not tell such a stall from the server.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import Row

ROOT = Path(__file__).resolve().parents[1]
LEAVES = 1_000_000
RATE = 500
SECONDS = 10
SAMPLES = 3
CHAT = -100_777


def _address(i: int) -> str:
    return "0x" + f"{i:040x}"


async def _populate(url: str) -> None:
    from sqlalchemy import insert

    from core.db import create_engine, session_factory
    from core.models import Chat
    from core.models_claims import Artefact, Settlement
    from core.models_engagement import Campaign, Epoch
    from engagement.settle_service import store_rows
    from engagement.settlement import AllocationParams, settle

    wallets = {i: _address(i) for i in range(1, LEAVES + 1)}
    result = settle(
        {i: i for i in wallets}, AllocationParams(LEAVES**2), evm_wallets=wallets, solana_wallets={}
    )
    tree = result.trees["evm"]
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        session.add(Chat(id=CHAT, type="supergroup", title="bench"))
        campaign = Campaign(chat_id=CHAT, name="bench")
        session.add(campaign)
        await session.flush()
        epoch = Epoch(chat_id=CHAT, number=1, state="published", campaign_id=campaign.id or 0)
        session.add(epoch)
        await session.flush()
        record = Settlement(
            chat_id=CHAT, epoch_number=1, epoch_id=epoch.id or 0, state="published",
            pool=str(LEAVES**2), params={}, ledger_digest="sha256:", evm_root=tree.root,
        )  # fmt: skip
        session.add(record)
        await session.flush()
        # What `settle_service.close` stores for proof lookups: the rows and the two blobs.
        await store_rows(session, tree.records(record.id or 0))
        blobs = [("evm/nodes.bin", tree.nodes), ("evm/accounts.bin", tree.accounts)]
        artefacts = [
            {"settlement_id": record.id, "name": n, "media_type": "x", "body": b} for n, b in blobs
        ]
        await session.exec(insert(Artefact), params=artefacts)  # type: ignore[call-overload]
        await session.commit()
    await engine.dispose()


def serve(url: str, port: int) -> None:
    """Runs the claims router on `port` (the child process)."""
    from types import SimpleNamespace

    import uvicorn
    from fastapi import FastAPI

    from core.db import create_engine, session_factory
    from miniapps.claims import create_claims_router

    app = FastAPI()
    app.state.gateway = SimpleNamespace(sessions=session_factory(create_engine(url)))
    app.include_router(create_claims_router())
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (Linux `/proc`; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _load(base: str, server: int) -> list[tuple[list[float], int, float]]:
    """Each sample's latencies, errors and server CPU seconds."""
    import aiohttp

    rng = random.Random(7)
    async with aiohttp.ClientSession() as http:
        deadline = time.monotonic() + 120  # a busy machine starts the server slowly
        while True:
            try:
                async with http.get(f"{base}/healthz"):
                    break
            except aiohttp.ClientError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

        latencies: list[float] = []
        errors: list[int] = []

        async def one(address: str, scheduled: float) -> None:
            async with http.get(f"{base}/v1/claims/{CHAT}/1/proof/{address}") as answer:
                await answer.read()
                if answer.status != 200:
                    errors.append(answer.status)
            latencies.append(time.perf_counter() - scheduled)

        await one(_address(1), time.perf_counter())  # loads the nodes into the server's cache
        samples = []
        for _ in range(SAMPLES):
            latencies, errors = [], []
            cpu = _cpu_seconds(server)
            tasks, begin = [], time.perf_counter()
            for n in range(RATE * SECONDS):
                scheduled = begin + n / RATE
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                address = _address(rng.randrange(1, LEAVES + 1))
                tasks.append(asyncio.create_task(one(address, scheduled)))
            await asyncio.gather(*tasks)
            samples.append((latencies, len(errors), _cpu_seconds(server) - cpu))
    return samples


def collect() -> list[Row]:
    from core.migrate import upgrade

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/proofs.db"
        upgrade(url)
        asyncio.run(_populate(url))
        port = _free_port()
        code = f"from benchmarks.bench_proofs import serve; serve({url!r}, {port})"
        server = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
        try:
            time.sleep(2.0)
            samples = asyncio.run(_load(f"http://127.0.0.1:{port}", server.pid))
        finally:
            server.terminate()
            server.wait(timeout=10)
    p50s, p99s, worst, per_request = [], [], [], []
    for latencies, _, cpu in samples:
        ordered = sorted(latencies)
        p50s.append(ordered[len(ordered) // 2] * 1000)
        p99s.append(ordered[int(len(ordered) * 0.99)] * 1000)
        worst.append(ordered[-1] * 1000)
        per_request.append(cpu / max(len(ordered), 1) * 1000)
    requests = sum(len(latencies) for latencies, _, _ in samples)
    errors = sum(e for _, e, _ in samples)
    notes = [
        f"{SAMPLES} samples of {RATE * SECONDS} requests at {RATE}/s over {SECONDS} s;"
        f" {requests} requests, {errors} errors, SQLite",
        "slowest answer of each sample: " + ", ".join(f"{w:.1f} ms" for w in worst),
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs after the samples",
    ]
    return [
        Row("proof lookup p50, 1M leaves", "ms", p50s, higher_is_better=False, notes=notes),
        Row("proof lookup p99, 1M leaves", "ms", p99s, higher_is_better=False, target="< 20 ms"),
        Row(
            "proof lookup server CPU per request",
            "ms",
            per_request,
            higher_is_better=False,
            notes=["the server's own CPU time over the run: what load on the machine cannot hide"],
        ),
    ]
