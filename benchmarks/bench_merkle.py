"""`merkle build` on 50,000 claim rows, as whole processes: ours against the npm library.

Ours runs the installed console script, `townsquare merkle build ROWS.csv --out DUMP.json`; the
peer is `@openzeppelin/merkle-tree` in node, reading the same CSV, building the same tree and
writing its dump (`tests/tools/oz_merkle.mjs`, op `csv`). The roots must match. Python runs with
a bytecode cache in a temporary PYTHONPYCACHEPREFIX, as an installed package has compiled `.pyc`
files, after one untimed warm-up run. The notes give the CPU time of both sides too: it does not
move with the machine's load, the wall times do.
"""

from __future__ import annotations

import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import Row
from wallet.merkle_hash import checksum_addresses

ROOT = Path(__file__).resolve().parents[1]
ROWS = 50_000
OURS_SAMPLES = 3
NPM_SAMPLES = 2


def write_rows(path: Path, count: int = ROWS, seed: int = 50_000) -> None:
    """Deterministic `index,address,amount` rows with EIP-55 addresses and 18-decimal amounts."""
    rng = random.Random(seed)
    addresses = checksum_addresses(rng.randbytes(20 * count))
    with path.open("w") as out:
        out.write("index,address,amount\n")
        out.writelines(
            f"{i},{address},{rng.randrange(10**15, 10**24)}\n"
            for i, address in enumerate(addresses)
        )


def _townsquare() -> list[str]:
    """The `townsquare` console script beside this interpreter, as `make bench` has it."""
    script = Path(sys.executable).parent / "townsquare"
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(
    command: list[str], env: dict[str, str], cpu: list[float], stdin: str | None = None
) -> tuple[float, str]:
    """Runs `command`; returns its wall time and output, and appends its CPU time to `cpu`."""
    started, cpu_before = time.perf_counter(), _cpu_of_children()
    done = subprocess.run(
        command, input=stdin, capture_output=True, text=True, cwd=ROOT, env=env, check=True
    )
    cpu.append(_cpu_of_children() - cpu_before)
    return time.perf_counter() - started, done.stdout


def collect() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="bench-merkle-") as tmp:
        work = Path(tmp)
        rows = work / "rows.csv"
        write_rows(rows)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        ours_cmd = [*_townsquare(), "merkle", "build", str(rows), "--out"]
        ours_cpu: list[float] = []
        _timed([*ours_cmd, str(work / "warm.json")], env, [])
        ours, roots = [], set()
        for i in range(OURS_SAMPLES):
            seconds, stdout = _timed([*ours_cmd, str(work / f"ours{i}.json")], env, ours_cpu)
            ours.append(seconds)
            roots.add(stdout.strip())
        npm: list[float] = []
        npm_cpu: list[float] = []
        helper = str(ROOT / "tests" / "tools" / "oz_merkle.mjs")
        for i in range(NPM_SAMPLES):
            request = {"op": "csv", "path": str(rows), "out": str(work / f"npm{i}.json")}
            seconds, stdout = _timed(["node", helper], env, npm_cpu, json.dumps(request))
            npm.append(seconds)
            roots.add(json.loads(stdout)["root"])
        if len(roots) != 1:
            raise RuntimeError(f"roots differ between ours and npm: {sorted(roots)}")
        same_dump = json.loads((work / "ours0.json").read_text()) == json.loads(
            (work / "npm0.json").read_text()
        )
        if not same_dump:
            raise RuntimeError("the dumps differ between ours and npm")
    note = f"{ROWS:,} EIP-55 rows; identical root {roots.pop()[:18]}… and identical dumps"
    load = f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs after the samples"
    # On a loaded machine the wall ratio depends on the share of CPU each process gets; the
    # CPU time each one needs does not, and is what the wall ratio is on an idle machine.
    ours_median, npm_median = statistics.median(ours_cpu), statistics.median(npm_cpu)
    cpu = (
        f"CPU time (user+sys) medians: {ours_median:.3f} s against {npm_median:.2f} s,"
        f" {npm_median / ours_median:.1f}x"
    )
    return [
        Row(
            "merkle build 50k rows (townsquare)",
            "s",
            ours,
            higher_is_better=False,
            peer="merkle build 50k rows (npm)",
            target=">= 30x",
            notes=[
                note,
                "whole process: interpreter, imports (no Typer), CSV, tree, dump",
                load,
                cpu,
            ],
        ),
        Row("merkle build 50k rows (npm)", "s", npm, higher_is_better=False),
    ]
