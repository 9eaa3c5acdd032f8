"""Settling an epoch for 1,000,000 claimants: allocation, tree, dump and claims file.

Each sample runs in its own process (`python -m benchmarks.bench_settlement DIR`), so its peak
RSS (`ru_maxrss`) is its own. The process makes 1M members with scores and EIP-55 wallets and a
migrated SQLite database holding the epoch's settlement record (untimed), then times what
`settle_service.close` does after reading the ledger, phase by phase, with the service's own
functions: `settle` (allocation and both trees), the claim rows (`store_rows`), the blobs that
proof lookups read (nodes and account lookup), the dump streamed to a file under DIR, and the
commit: the settlement the 15 s target is about. Then it streams the Uniswap-shaped claims file
of about 1.25 GB to DIR, as `close` does last. `BENCH_CLAIMANTS` sets a smaller count for a
quick look.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import Row

ROOT = Path(__file__).resolve().parents[1]
CLAIMANTS = int(os.environ.get("BENCH_CLAIMANTS", "1000000"))
POOL = 10**24  # a million tokens of 18 decimals
SAMPLES = 3
GIB = 1 << 30
PHASES = ("settle", "rows", "blobs", "dump", "commit")


CHAT = -100_555


async def _settlement_record(url: str) -> int:
    """An epoch and its (empty) settlement record, for the rows to belong to."""
    from core.db import create_engine, session_factory
    from core.models import Chat
    from core.models_claims import Settlement
    from core.models_engagement import Campaign, Epoch

    engine = create_engine(url)
    async with session_factory(engine)() as session:
        session.add(Chat(id=CHAT, type="supergroup", title="bench"))
        campaign = Campaign(chat_id=CHAT, name="bench")
        session.add(campaign)
        await session.flush()
        epoch = Epoch(chat_id=CHAT, number=1, state="closed", campaign_id=campaign.id or 0)
        session.add(epoch)
        await session.flush()
        record = Settlement(
            chat_id=CHAT, epoch_number=1, epoch_id=epoch.id or 0, state="closed",
            pool=str(POOL), params={}, ledger_digest="sha256:",
        )  # fmt: skip
        session.add(record)
        await session.commit()
        settlement_id = record.id or 0
    await engine.dispose()
    return settlement_id


async def _store(url: str, settlement_id: int, result: Any, directory: Path, lap: Any) -> None:
    """What `settle_service.store` does, phase by phase: rows, blobs, the dump, the commit."""
    from sqlalchemy import insert

    from core.db import create_engine, session_factory
    from core.models_claims import Artefact
    from engagement.settle_service import BINARY_TYPE, store_rows
    from engagement.settlement_files import tree_artefact

    tree = result.trees["evm"]
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        await store_rows(session, tree.records(settlement_id))
        lap("rows")
        blobs = [("evm/nodes.bin", tree.nodes), ("evm/accounts.bin", tree.accounts)]
        params = [
            {"settlement_id": settlement_id, "name": n, "media_type": BINARY_TYPE, "body": b}
            for n, b in blobs
        ]
        await session.exec(insert(Artefact), params=params)  # type: ignore[call-overload]
        lap("blobs")
        dump = tree_artefact(directory, tree, "dump.json")
        await session.exec(insert(Artefact), params=[{"settlement_id": settlement_id, **dump}])  # type: ignore[call-overload]
        lap("dump")
        await session.commit()
        lap("commit")
    await engine.dispose()


def settle(directory: Path) -> dict[str, Any]:
    """One timed settlement into `directory`; returns seconds per phase, peak bytes, sizes."""
    from core.migrate import upgrade
    from engagement import settle_service  # noqa: F401 (imported before the clock starts)
    from engagement.settlement import AllocationParams, settle
    from engagement.settlement_files import tree_artefact, tree_file_path
    from wallet.merkle_hash import checksum_addresses

    rng = random.Random(1_000_000)
    wallets = dict(enumerate(checksum_addresses(rng.randbytes(20 * CLAIMANTS)), 1))
    scores = {member: rng.randrange(1, 10**6) for member in wallets}
    url = f"sqlite+aiosqlite:///{directory}/settlement.db"
    upgrade(url)
    settlement_id = asyncio.run(_settlement_record(url))
    phases: dict[str, float] = {}
    started = last = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal last
        now = time.perf_counter()
        phases[name], last = now - last, now

    result = settle(scores, AllocationParams(POOL), evm_wallets=wallets, solana_wallets={})
    lap("settle")
    asyncio.run(_store(url, settlement_id, result, directory, lap))
    settled = time.perf_counter() - started
    tree = result.trees["evm"]
    tree_artefact(directory, tree, "claims.json")
    lap("claims")
    return {
        "settled": settled,
        "seconds": time.perf_counter() - started,
        "phases": phases,
        "peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "child_peak_bytes": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
        "claims": len(tree),
        "claims_file_bytes": (directory / tree_file_path(tree, "claims.json")).stat().st_size,
        "dump_bytes": (directory / tree_file_path(tree, "dump.json")).stat().st_size,
        "database_bytes": sum(f.stat().st_size for f in directory.glob("settlement.db*")),
    }


def _sample() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-settle-") as tmp:
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_settlement", tmp],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            check=True,
        )
    return json.loads(done.stdout)


def collect() -> list[Row]:
    results = [_sample() for _ in range(SAMPLES)]
    first = results[0]
    notes = [
        f"{int(first['claims']):,} claims; claims file {first['claims_file_bytes'] / 1e9:.2f} GB, "
        f"dump {first['dump_bytes'] / 1e6:.0f} MB, database "
        f"{first['database_bytes'] / 1e6:.0f} MB, written to a temporary directory on disk",
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs after the samples",
    ]
    forked = max(r["child_peak_bytes"] for r in results)
    if forked:
        notes.append(f"hashing helpers forked on an idle CPU peaked at {forked / GIB:.2f} GiB")
    rows = [
        Row(
            "settlement 1M: allocation + tree + dump + rows stored",
            "s",
            [r["settled"] for r in results],
            higher_is_better=False,
            target="<= 15 s",
            notes=notes,
        ),
    ]
    rows += [
        Row(f"settlement 1M: of which {phase}", "s", [r["phases"][phase] for r in results], False)
        for phase in PHASES
    ]
    return [
        *rows,
        Row(
            "settlement 1M: + claims file",
            "s",
            [r["seconds"] for r in results],
            higher_is_better=False,
        ),
        Row(
            "settlement 1M: peak RSS",
            "GiB",
            [r["peak_bytes"] / GIB for r in results],
            higher_is_better=False,
            target="<= 1.5 GiB",
        ),
    ]


if __name__ == "__main__":
    print(json.dumps(settle(Path(sys.argv[1]))))
