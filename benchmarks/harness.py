"""A small benchmark harness: repeated samples, a table of median/min/max and peer ratios."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Row:
    """One measured figure: its samples, unit and an optional peer to compare with."""

    name: str
    unit: str
    samples: list[float]
    higher_is_better: bool = True
    peer: str | None = None
    target: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def low(self) -> float:
        return min(self.samples)

    @property
    def high(self) -> float:
        return max(self.samples)


def repeat(fn: Callable[[], float], times: int) -> list[float]:
    """Calls `fn` `times` times; each call returns one sample."""
    return [fn() for _ in range(times)]


def rate(count: int, fn: Callable[[], object]) -> float:
    """Runs `fn` once and returns `count` divided by the elapsed seconds."""
    started = time.perf_counter()
    fn()
    return count / (time.perf_counter() - started)


def seconds(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def ratio(row: Row, rows: dict[str, Row]) -> str:
    if row.peer is None or row.peer not in rows:
        return ""
    peer = rows[row.peer]
    value = row.median / peer.median if row.higher_is_better else peer.median / row.median
    return f"{value:.2f}x vs {row.peer}"


def render(rows: list[Row]) -> str:
    """Formats rows as a fixed-width table."""
    by_name = {r.name: r for r in rows}
    header = ("benchmark", "unit", "median", "min", "max", "n", "ratio", "target")
    lines = [header]
    for r in rows:
        lines.append(
            (
                r.name,
                r.unit,
                f"{r.median:,.3f}",
                f"{r.low:,.3f}",
                f"{r.high:,.3f}",
                str(len(r.samples)),
                ratio(r, by_name),
                r.target,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)) for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    for r in rows:
        out.extend(f"  {r.name}: {note}" for note in r.notes)
    return "\n".join(out)
