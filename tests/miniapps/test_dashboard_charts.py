"""Chart geometry for the dashboard's SVG: round axes, bars in proportion, names shortened."""

from __future__ import annotations

from datetime import date

import pytest

from engagement.analytics import Bucket, Cohort, DayActivity
from engagement.board import Standout
from miniapps import dashboard_charts as charts


@pytest.mark.parametrize(
    ("value", "top"), [(0, 4), (1, 4), (4, 4), (5, 8), (9, 20), (41, 80), (1234, 2000)]
)
def test_axis_tops_are_four_round_steps(value: int, top: int) -> None:
    assert charts.nice_max(value) == top


def test_activity_bars_and_line_follow_the_counts() -> None:
    days = [DayActivity(date(2026, 11, d), m, a) for d, m, a in [(1, 8, 2), (2, 0, 0), (3, 4, 4)]]
    chart = charts.activity_chart(days)
    heights = [b.height for b in chart.bars]
    assert heights[0] == pytest.approx(2 * heights[2]) and heights[1] == 0
    plot_bottom = charts.HEIGHT - charts.BOTTOM
    assert all(b.y + b.height == pytest.approx(plot_bottom) for b in chart.bars)
    # The line's third point is at the height of the third bar's top: 4 active, 4 messages.
    assert float(chart.line.split()[2].split(",")[1]) == pytest.approx(chart.bars[2].y, abs=0.1)
    assert [label.text for label in chart.y_labels] == ["0", "2", "4", "6", "8"]
    assert charts.activity_chart([DayActivity(date(2026, 11, 1), 0, 0)]).empty


def test_distribution_top_and_retention_shapes() -> None:
    spread = charts.distribution_chart([Bucket(0, 9, 3), Bucket(10, 19, 1)])
    assert [b.title for b in spread.bars] == ["0–9: 3", "10–19: 1"]
    top = charts.top_chart(
        [Standout(1, 50, "A very long member name indeed"), Standout(2, 25, "Bo")]
    )
    assert [label.text for label in top.y_labels] == ["A very long mem…", "Bo"]
    assert top.bars[0].width == pytest.approx(2 * top.bars[1].width)
    heat = charts.retention_heatmap(
        [Cohort(date(2026, 11, 2), 4, [4, 2, None]), Cohort(date(2026, 11, 9), 0, [0, None, None])]
    )
    assert [c.text for c in heat.cells] == ["100%", "50%"]
    assert [c.opacity for c in heat.cells] == [1.0, 0.56]
    assert len(heat.rows) == 1
