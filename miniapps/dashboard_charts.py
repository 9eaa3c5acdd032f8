"""Chart geometry for the dashboard's server-rendered SVG: plain numbers in, shapes out.

The templates only draw what these functions place, so the charts need no script and no
inline style (the pages' Content-Security-Policy allows neither): colours come from CSS
classes that follow the Telegram theme.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from engagement.analytics import Bucket, Cohort, DayActivity
from engagement.board import Standout

# Sized for a phone: the SVG scales to the card, and its 10px text stays readable there.
WIDTH, HEIGHT = 360, 180
LEFT, RIGHT, TOP, BOTTOM = 30, 6, 10, 22


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True, slots=True)
class Label:
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class Chart:
    """One SVG chart: bars, an optional line, tick labels on both axes."""

    width: int
    height: int
    bars: list[Bar]
    line: str = ""
    dots: list[Bar] = field(default_factory=list)
    y_labels: list[Label] = field(default_factory=list)
    x_labels: list[Label] = field(default_factory=list)
    grid: list[float] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.bars


def nice_step(value: int, ticks: int = 4) -> int:
    """A round step (1, 2 or 5 times a power of ten) whose `ticks` multiples reach `value`."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor * ticks >= value:
                return step * factor
        step *= 10


def nice_max(value: int, ticks: int = 4) -> int:
    """The axis top: `ticks` round steps, so every tick has a whole round value."""
    return nice_step(max(value, 1), ticks) * ticks


def _y_axis(top: int, plot_height: float) -> tuple[list[Label], list[float]]:
    labels, grid = [], []
    for i in range(5):
        value = top * i // 4
        y = TOP + plot_height - plot_height * value / top
        labels.append(Label(LEFT - 4, y + 3, f"{value:,}"))
        grid.append(y)
    return labels, grid


def activity_chart(days: Sequence[DayActivity]) -> Chart:
    """Messages per day as bars, active members per day as a line over them."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = nice_max(max((d.messages for d in days), default=0))
    slot = plot_w / max(len(days), 1)
    bars, points, x_labels, dots = [], [], [], []
    for i, day in enumerate(days):
        x = LEFT + i * slot
        h = plot_h * day.messages / top
        bars.append(
            Bar(
                x + slot * 0.15, TOP + plot_h - h, slot * 0.7, h, f"{day.day:%b %d}: {day.messages}"
            )
        )
        cy = TOP + plot_h - plot_h * day.active_members / top
        points.append(f"{x + slot / 2:.1f},{cy:.1f}")
        dots.append(Bar(x + slot / 2, cy, 0, 0, f"{day.day:%b %d}: {day.active_members} active"))
        if i % max(1, len(days) // 4) == 0:
            x_labels.append(Label(x + slot / 2, HEIGHT - 6, f"{day.day:%b %d}"))
    labels, grid = _y_axis(top, plot_h)
    has_data = any(d.messages for d in days)
    return Chart(
        WIDTH,
        HEIGHT,
        bars if has_data else [],
        " ".join(points),
        dots,
        labels,
        x_labels,
        grid,
    )


def distribution_chart(buckets: Sequence[Bucket]) -> Chart:
    """Members per score range."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = nice_max(max((b.members for b in buckets), default=0))
    slot = plot_w / max(len(buckets), 1)
    bars, x_labels = [], []
    for i, bucket in enumerate(buckets):
        x = LEFT + i * slot
        h = plot_h * bucket.members / top
        span = str(bucket.low) if bucket.low == bucket.high else f"{bucket.low}–{bucket.high}"
        bars.append(
            Bar(x + slot * 0.08, TOP + plot_h - h, slot * 0.84, h, f"{span}: {bucket.members}")
        )
        x_labels.append(Label(x + slot / 2, HEIGHT - 6, span))
    labels, grid = _y_axis(top, plot_h)
    return Chart(WIDTH, HEIGHT, bars, y_labels=labels, x_labels=x_labels, grid=grid)


NAME_WIDTH, ROW = 110, 22
NAME_CHARS = 16


def short(name: str) -> str:
    """A name that fits left of the bars (the full one is in the table and the export)."""
    return name if len(name) <= NAME_CHARS else name[: NAME_CHARS - 1] + "…"


def top_chart(top: Sequence[Standout]) -> Chart:
    """The top contributors as horizontal bars, names on the left."""
    height = TOP + ROW * max(len(top), 1) + 4
    most = max((s.points for s in top), default=0)
    scale = (WIDTH - NAME_WIDTH - 44) / max(most, 1)
    bars, names = [], []
    for i, row in enumerate(top):
        y = TOP + i * ROW
        bars.append(Bar(NAME_WIDTH, y + 4, max(row.points, 0) * scale, ROW - 8, str(row.points)))
        names.append(Label(NAME_WIDTH - 8, y + ROW / 2 + 4, short(row.name)))
    values = [Label(b.x + b.width + 6, b.y + b.height - 3, b.title) for b in bars]
    return Chart(WIDTH, height, bars, y_labels=names, x_labels=values)


@dataclass(frozen=True, slots=True)
class Cell:
    x: float
    y: float
    opacity: float
    text: str


@dataclass(frozen=True)
class Heatmap:
    width: int
    height: int
    cells: list[Cell]
    rows: list[Label]
    columns: list[Label]

    @property
    def empty(self) -> bool:
        return not self.cells


CELL_W, CELL_H, ROW_LABEL = 44, 24, 90


def retention_heatmap(cohorts: Sequence[Cohort]) -> Heatmap:
    """Join weeks down, weeks since joining across; each cell the share still writing."""
    shown = [c for c in cohorts if c.size]
    weeks = max((len(c.active) for c in shown), default=0)
    cells, rows = [], []
    for r, cohort in enumerate(shown):
        y = 24 + r * CELL_H
        rows.append(
            Label(ROW_LABEL - 8, y + CELL_H / 2 + 4, f"{cohort.week:%b %d} ({cohort.size})")
        )
        for k in range(weeks):
            percent = cohort.percent(k)
            if percent is not None:
                opacity = 0.12 + 0.88 * percent / 100
                cells.append(Cell(ROW_LABEL + k * CELL_W, y, round(opacity, 2), f"{percent}%"))
    columns = [Label(ROW_LABEL + k * CELL_W + CELL_W / 2, 16, f"wk {k}") for k in range(weeks)]
    return Heatmap(
        ROW_LABEL + weeks * CELL_W + 4, 24 + len(shown) * CELL_H + 4, cells, rows, columns
    )
