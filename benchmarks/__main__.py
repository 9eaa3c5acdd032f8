"""`python -m benchmarks [NAME ...]`: runs every `benchmarks/bench_*.py` and prints one table.

Each module exposes `collect() -> list[Row]`. Names on the command line pick modules by substring.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import traceback

from benchmarks.harness import Row, render


def main(argv: list[str]) -> int:
    import benchmarks

    names = sorted(
        m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_")
    )
    if argv:
        names = [n for n in names if any(a in n for a in argv)]
    rows: list[Row] = []
    failed = 0
    for i, name in enumerate(names):
        if i:
            settle()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        try:
            module = importlib.import_module(f"benchmarks.{name}")
            rows.extend(module.collect())
        except Exception:
            failed += 1
            traceback.print_exc()
    print(render(rows))
    return 1 if failed else 0


def settle(longest: float = 20.0) -> None:
    """Lets the previous module's work leave the machine before the next one measures: its
    files written out, PostgreSQL's dirty buffers too (a module drops a database of millions of
    rows), then up to `longest` seconds for the load average to fall below one core. Without
    it, the proof lookups' p99 caught the engagement seed's write-back (48 ms against 1.5 ms)."""
    import asyncio
    import contextlib
    import os
    import time

    os.sync()
    # Without PostgreSQL here, there is nothing of it to wait for.
    with contextlib.suppress(OSError, TimeoutError, ImportError):
        asyncio.run(_checkpoint())
    deadline = time.monotonic() + longest
    while os.getloadavg()[0] >= 1.0 and time.monotonic() < deadline:
        time.sleep(1.0)


async def _checkpoint() -> None:
    import asyncpg

    from benchmarks.bench_webhook import POSTGRES_ADMIN

    conn = await asyncpg.connect(POSTGRES_ADMIN, timeout=5)
    try:
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
