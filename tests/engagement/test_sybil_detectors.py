"""The sybil detectors over plain data: each reason code, and what must not trigger it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engagement import sybil
from engagement.sybil import Seen

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
INSTALLED = NOW - timedelta(days=30)


@pytest.mark.parametrize(
    ("first_seen", "joined", "points", "flagged"),
    [
        (NOW - timedelta(hours=2), NOW - timedelta(hours=2), 30, True),
        (NOW - timedelta(hours=2), NOW - timedelta(hours=2), 0, False),  # earns nothing
        (NOW - timedelta(days=3), NOW - timedelta(hours=2), 30, False),  # old account
        (NOW - timedelta(hours=2), NOW - timedelta(days=2), 30, False),  # joined long ago
    ],
)
def test_new_accounts(first_seen: datetime, joined: datetime, points: int, flagged: bool) -> None:
    found = sybil.new_accounts(
        [Seen(7, first_seen, joined, points)], group_known_since=INSTALLED, now=NOW
    )
    assert [s.member_id for s in found] == ([7] if flagged else [])


def test_members_present_when_the_bot_arrived_are_not_new() -> None:
    arrived = NOW - timedelta(hours=3)
    everyone = [Seen(i, arrived + timedelta(minutes=i), arrived, 10) for i in range(5)]
    assert sybil.new_accounts(everyone, group_known_since=arrived, now=NOW) == []


@pytest.mark.parametrize(
    ("stamps", "flagged"),
    [
        (list(range(0, 50, 5)), True),  # 10 messages in 45 s
        (list(range(0, 100, 10)), False),  # 10 messages in 90 s
        ([0] * 9, False),
        ([0, 1, 2, 3, 4, 500, 501, 502, 503, 504, 505], False),
    ],
)
def test_bursts(stamps: list[int], flagged: bool) -> None:
    found = sybil.bursts({1: stamps})
    assert bool(found) is flagged
    if flagged:
        assert found[0].code == sybil.BURST


def test_reaction_ring_is_found_and_normal_fans_are_not() -> None:
    ring = [(a, b) for a in (1, 2, 3) for b in (1, 2, 3) if a != b for _ in range(4)]
    fans = [(10 + i, 1) for i in range(20)]  # many people reacting to one popular author
    talker = [(4, b) for b in range(20, 30)]  # member 4 reacts widely, gets nothing back
    found = sybil.reaction_rings(ring + fans + talker)
    assert {s.member_id for s in found} == {1, 2, 3}
    assert all(s.code == sybil.REACTION_RING for s in found)


def test_self_reactions_do_not_make_a_ring() -> None:
    assert sybil.reaction_rings([(1, 1)] * 10) == []


def test_identical_texts_across_accounts() -> None:
    same = 0xABCDEF
    rows = [(1, 0, same), (2, 60, same), (3, 120, same), (4, 100_000, same), (5, 10, 0x1234)]
    found = sybil.identical_texts(rows)
    assert {s.member_id for s in found} == {1, 2, 3}
    assert all("2 other accounts" in s.detail for s in found)


def test_one_account_repeating_itself_is_not_identical_across_accounts() -> None:
    assert sybil.identical_texts([(1, t, 0xAB) for t in range(0, 600, 60)]) == []
