"""Managers' analytics as pure functions: activity per day, score ranges, retention by week."""

from __future__ import annotations

from datetime import UTC, date, datetime

from engagement.analytics import Bucket, DayActivity, daily_activity, histogram, retention


def at(day: int, hour: int = 12, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def test_daily_activity_counts_messages_and_distinct_writers() -> None:
    rows = [(1, at(2)), (1, at(2, 13)), (2, at(2, 23)), (3, at(4)), (1, at(9))]
    assert daily_activity(rows, first=date(2026, 11, 2), last=date(2026, 11, 4)) == [
        DayActivity(date(2026, 11, 2), 3, 2),
        DayActivity(date(2026, 11, 3), 0, 0),
        DayActivity(date(2026, 11, 4), 1, 1),
    ]


def test_histogram_ranges_cover_every_score_once() -> None:
    assert histogram([]) == []
    assert histogram([5, 5, 5]) == [Bucket(5, 5, 3)]
    # Range 0..20 (21 values) in at most 4 ranges: width 6.
    assert histogram([0, 3, 6, 11, 12, 20, 20], buckets=4) == [
        Bucket(0, 5, 2),
        Bucket(6, 11, 2),
        Bucket(12, 17, 1),
        Bucket(18, 20, 2),
    ]
    assert histogram([-4, 2], buckets=2) == [Bucket(-4, -1, 1), Bucket(0, 2, 1)]


def test_retention_by_join_week() -> None:
    # Mondays: Nov 2, 9, 16; today is Wednesday Nov 18.
    joins = {1: at(3), 2: at(4), 3: at(10), 4: at(1, month=10)}
    messages = [(1, at(3)), (2, at(5)), (1, at(12)), (1, at(13)), (3, at(17)), (4, at(17))]
    cohorts = retention(joins, messages, today=date(2026, 11, 18), cohorts=3, weeks=4)
    assert [(c.week, c.size, c.active) for c in cohorts] == [
        (date(2026, 11, 2), 2, [2, 1, 0, None]),
        (date(2026, 11, 9), 1, [0, 1, None, None]),
        (date(2026, 11, 16), 0, [0, None, None, None]),
    ]
    assert [cohorts[0].percent(k) for k in range(4)] == [100, 50, 0, None]
    assert cohorts[2].percent(0) is None
