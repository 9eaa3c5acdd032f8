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
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        try:
            module = importlib.import_module(f"benchmarks.{name}")
            rows.extend(module.collect())
        except Exception:
            failed += 1
            traceback.print_exc()
    print(render(rows))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
