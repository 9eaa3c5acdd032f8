"""Settling an epoch for 1,000,000 claimants: allocation, tree, dump and claims file.

Each sample runs in its own process (`python -m benchmarks.bench_settlement DIR`), so its peak
RSS (`ru_maxrss`) is its own. The process makes 1M EIP-55 addresses with scores (untimed), then
times `allocate` -> `allocations_from_amounts` -> `build_tree` -> `write_dump` (the settlement
the 15 s target is about) and then `write_claims`, the Uniswap-shaped claims file of about
1.5 GB, into DIR, a temporary directory on disk.
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import Row

ROOT = Path(__file__).resolve().parents[1]
CLAIMANTS = 1_000_000
POOL = 10**24  # a million tokens of 18 decimals
SAMPLES = 3
GIB = 1 << 30


def settle(directory: Path) -> dict[str, float]:
    """One timed settlement into `directory`; returns seconds, peak bytes and file sizes."""
    from engagement.allocation import allocate
    from wallet.merkle_claims import quoted_nodes, write_claims, write_dump
    from wallet.merkle_csv import allocations_from_amounts, build_tree
    from wallet.merkle_hash import checksum_addresses

    rng = random.Random(1_000_000)
    addresses = checksum_addresses(rng.randbytes(20 * CLAIMANTS))
    scores = {address: rng.randrange(1, 10**6) for address in addresses}
    del addresses
    started = time.perf_counter()
    amounts = allocate(scores, POOL)
    rows = allocations_from_amounts([(a, m) for a, m in amounts.items() if m])
    tree = build_tree(rows)
    nodes = quoted_nodes(tree.nodes)
    with (directory / "dump.json").open("wb") as out:
        write_dump(tree, out, None, nodes)
    settled = time.perf_counter() - started
    with (directory / "claims.json").open("wb") as out:
        write_claims(tree, rows, out, None, nodes)
    return {
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
            "settlement 1M: allocation + tree + dump",
            "s",
            [r["settled"] for r in results],
            higher_is_better=False,
            target="<= 15 s",
            notes=notes,
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
