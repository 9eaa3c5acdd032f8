"""Settling an epoch for 1,000,000 claimants: allocation, tree, dump and claims file.

Each sample runs in its own process (`python -m benchmarks.bench_settlement DIR`), so its peak
RSS (`ru_maxrss`) is its own. The process makes 1M EIP-55 addresses with scores and a migrated
SQLite database holding the epoch's settlement record (untimed), then times `allocate` ->
`allocations_from_amounts` -> `build_tree` -> `write_dump` -> storing what the proof API reads
(the claim rows, through `settle_service.store_rows`, and the tree's nodes) and committing: the
settlement the 15 s target is about. Then it writes the Uniswap-shaped claims file of about
1.5 GB into DIR, a temporary directory on disk. `BENCH_CLAIMANTS` sets a smaller count for a
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


async def _store(url: str, settlement_id: int, rows: Any, tree: Any) -> None:
    """What `settle_service.close` stores for the proof API: claim rows and the tree's nodes."""
    from sqlalchemy import insert

    from core.db import create_engine, session_factory
    from core.models_claims import Artefact
    from engagement.settle_service import store_rows

    keys, where = rows.claim_keys(), tree.tree_indices
    records = [
        (settlement_id, "evm", index, index, key, str(amount), node)
        for index, key, amount, node in zip(rows.indexes, keys, rows.amounts, where, strict=True)
    ]
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        await store_rows(session, records)
        nodes = {"settlement_id": settlement_id, "name": "evm/nodes.bin", "media_type": "x"}
        await session.exec(insert(Artefact), params=[{**nodes, "body": b"".join(tree.nodes)}])  # type: ignore[call-overload]
        await session.commit()
    await engine.dispose()


def settle(directory: Path) -> dict[str, float]:
    """One timed settlement into `directory`; returns seconds, peak bytes and file sizes."""
    from core.migrate import upgrade
    from engagement import settle_service  # noqa: F401 (imported before the clock starts)
    from engagement.allocation import allocate
    from wallet.merkle_claims import quoted_nodes, write_claims, write_dump
    from wallet.merkle_csv import allocations_from_amounts, build_tree
    from wallet.merkle_hash import checksum_addresses

    rng = random.Random(1_000_000)
    addresses = checksum_addresses(rng.randbytes(20 * CLAIMANTS))
    scores = {address: rng.randrange(1, 10**6) for address in addresses}
    del addresses
    url = f"sqlite+aiosqlite:///{directory}/settlement.db"
    upgrade(url)
    settlement_id = asyncio.run(_settlement_record(url))
    started = time.perf_counter()
    amounts = allocate(scores, POOL)
    rows = allocations_from_amounts([(a, m) for a, m in amounts.items() if m])
    tree = build_tree(rows)
    nodes = quoted_nodes(tree.nodes)
    with (directory / "dump.json").open("wb") as out:
        write_dump(tree, out, None, nodes)
    computed = time.perf_counter() - started
    asyncio.run(_store(url, settlement_id, rows, tree))
    settled = time.perf_counter() - started
    with (directory / "claims.json").open("wb") as out:
        write_claims(tree, rows, out, None, nodes)
    return {
        "computed": computed,
        "settled": settled,
        "seconds": time.perf_counter() - started,
        "peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "child_peak_bytes": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
        "claims": len(tree),
        "claims_file_bytes": (directory / "claims.json").stat().st_size,
        "dump_bytes": (directory / "dump.json").stat().st_size,
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
        f"dump {first['dump_bytes'] / 1e6:.0f} MB, written to a temporary directory on disk",
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs after the samples",
    ]
    forked = max(r["child_peak_bytes"] for r in results)
    if forked:
        notes.append(f"hashing helpers forked on an idle CPU peaked at {forked / GIB:.2f} GiB")
    return [
        Row(
            "settlement 1M: allocation + tree + dump + rows stored",
            "s",
            [r["settled"] for r in results],
            higher_is_better=False,
            target="<= 15 s",
            notes=notes,
        ),
        Row(
            "settlement 1M: of which allocation + tree + dump",
            "s",
            [r["computed"] for r in results],
            higher_is_better=False,
        ),
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
