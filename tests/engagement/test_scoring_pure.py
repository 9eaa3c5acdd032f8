"""Pure scoring: decisions per rule, clock skew, and order independence of the outcomes."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engagement.rules import MessageRules
from engagement.scoring import (
    DAY,
    RECENT_LIMIT,
    Decision,
    MemberState,
    MessageFacts,
    advance,
    decide,
    effective_time,
    fold,
    interaction_changes,
    local_verdict,
    replay,
)

RULES = MessageRules()
T0 = 1_763_596_800  # a UTC midnight


def h(i: int) -> int:
    """Distinct, far-apart text hashes (Fibonacci hashing spreads the bits)."""
    return (i + 1) * 0x9E3779B97F4A7C15 % (1 << 64)


def run(messages: list[MessageFacts], rules: MessageRules = RULES) -> list[Decision]:
    return replay(MemberState(), [(m, rules) for m in messages])[0]


@pytest.mark.parametrize(
    ("kwargs", "verdict"),
    [
        (
            {"content_weight": 30, "has_text": True, "has_link": False, "forwarded": True},
            "forwarded",
        ),
        (
            {"content_weight": 0, "has_text": False, "has_link": False, "forwarded": False},
            "no_text",
        ),
        (
            {"content_weight": 0, "has_text": True, "has_link": True, "forwarded": False},
            "links_only",
        ),
        (
            {"content_weight": 0, "has_text": True, "has_link": False, "forwarded": False},
            "emoji_only",
        ),
        (
            {"content_weight": 11, "has_text": True, "has_link": False, "forwarded": False},
            "too_short",
        ),
        ({"content_weight": 12, "has_text": True, "has_link": True, "forwarded": False}, None),
    ],
)
def test_local_verdicts(kwargs: dict[str, object], verdict: str | None) -> None:
    assert local_verdict(RULES, **kwargs) == verdict  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("offsets", "expected"),
    [
        ([0, 10, 59, 60], [10, 0, 0, 10]),  # cooldown counts from the last message that earned
        ([0, 30, 61], [10, 0, 10]),  # a message in cooldown does not restart it
        ([0, DAY - 61, DAY], [10, 10, 10]),  # across midnight
    ],
)
def test_cooldown(offsets: list[int], expected: list[int]) -> None:
    messages = [MessageFacts(i, T0 + off, h(i)) for i, off in enumerate(offsets)]
    assert [d.points for d in run(messages)] == expected


def test_duplicates_within_the_window_earn_nothing() -> None:
    same = 0xFFFF_0000_FFFF_0000
    near = same ^ 0b101  # two bits apart
    far = same ^ 0xFF  # eight bits apart
    messages = [
        MessageFacts(1, T0, same),
        MessageFacts(2, T0 + 120, near),
        MessageFacts(3, T0 + 240, far),
        MessageFacts(4, T0 + 3600 + 1, same),  # the window has passed for message 1 ...
    ]
    decisions = run(messages)
    assert [d.rule for d in decisions] == ["message", "duplicate", "message", "duplicate"]
    # ... but not for message 2, which repeated it and so kept its window open.


def test_repeating_a_paid_text_never_pays_it_again_while_the_repeats_go_on() -> None:
    same = h(1)
    messages = [MessageFacts(i, T0 + i * 1800, same) for i in range(48)]  # a day, every 30 min
    decisions = run(messages)
    assert [d.points for d in decisions] == [10] + [0] * 47
    assert {d.rule for d in decisions[1:]} == {"duplicate"}
    state = fold(MemberState(), zip(messages, decisions, strict=True))
    assert state.recent == ((messages[-1].ts, same),)  # one entry per text, however often


def test_daily_cap_and_diminishing_returns() -> None:
    rules = MessageRules(
        points=10, cooldown_seconds=0, full_points_messages=2, diminishing_percent=50, daily_cap=28
    )
    messages = [MessageFacts(i, T0 + i, h(i)) for i in range(6)]
    decisions = run(messages, rules)
    # 10, 10, then 5, 3 (capped at 28), then nothing: the cap is reached.
    assert [d.points for d in decisions] == [10, 10, 5, 3, 0, 0]
    assert [d.rule for d in decisions][-2:] == ["daily_cap", "daily_cap"]
    next_day = MessageFacts(99, T0 + DAY, h(99))
    state = fold(MemberState(), zip(messages, decisions, strict=True))
    assert decide(rules, state, next_day).points == 10


def test_returns_diminish_to_nothing() -> None:
    rules = MessageRules(
        points=4, cooldown_seconds=0, full_points_messages=1, diminishing_percent=50, daily_cap=1000
    )
    decisions = run([MessageFacts(i, T0 + i, h(i)) for i in range(5)], rules)
    assert [d.points for d in decisions] == [4, 2, 1, 0, 0]
    assert decisions[-1].rule == "diminishing"


def test_texts_that_earned_nothing_do_not_block_a_first_payment() -> None:
    messages = [
        MessageFacts(1, T0, h(1)),
        MessageFacts(2, T0 + 5, h(2)),  # within the cooldown
        MessageFacts(3, T0 + 10, h(3), "forwarded"),
        MessageFacts(4, T0 + 70, h(2)),
        MessageFacts(5, T0 + 140, h(3)),
        MessageFacts(6, T0 + 210, h(2)),
    ]
    assert [d.rule for d in run(messages)] == [
        "message",
        "cooldown",
        "forwarded",
        "message",
        "message",
        "duplicate",
    ]


def test_unpaid_texts_cannot_push_a_paid_one_out_of_the_window() -> None:
    paid = MessageFacts(0, T0, h(0))
    burst = [MessageFacts(i, T0 + 1 + i // 4, h(i)) for i in range(1, 2 * RECENT_LIMIT)]
    again = MessageFacts(999, T0 + 600, h(0))
    decisions = run([paid, *burst, again])
    assert decisions[0].points == 10
    assert {d.rule for d in decisions[1:-1]} == {"cooldown"}
    assert decisions[-1].rule == "duplicate"


NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        (NOW - timedelta(days=3), NOW - timedelta(days=3)),  # late delivery keeps its date
        (NOW + timedelta(seconds=30), NOW + timedelta(seconds=30)),  # within the skew
        (NOW + timedelta(seconds=31), NOW),  # beyond it: not believed
        (NOW + timedelta(days=400), NOW),
    ],
)
def test_clock_skew(sent: datetime, expected: datetime) -> None:
    assert effective_time(sent, NOW) == expected


facts = st.lists(
    st.tuples(
        st.integers(0, 3 * 3600),
        st.sampled_from([h(1), h(2), h(2) ^ 1, h(3), h(4), 0]),
        st.sampled_from([None, None, None, "too_short"]),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=200, deadline=None)
@given(facts, st.randoms(use_true_random=False))
def test_late_arrivals_replayed_give_the_date_order_outcome(
    raw: list[tuple[int, int, str | None]], rnd: random.Random
) -> None:
    """What the ingest path does (fast path when newest, replay of the later ones when late)
    ends with the same decisions as judging everything in date order."""
    messages = [MessageFacts(i + 1, T0 + off, h, local) for i, (off, h, local) in enumerate(raw)]
    by_date = sorted(messages, key=lambda m: m.key)
    expected = dict(zip(by_date, run(by_date), strict=True))
    arrived: list[MessageFacts] = []
    net: dict[MessageFacts, Decision] = {}
    order = messages[:]
    rnd.shuffle(order)
    for msg in order:
        arrived.append(msg)
        ordered = sorted(arrived, key=lambda m: m.key)
        before = [m for m in ordered if m.key < msg.key]
        later = [m for m in ordered if m.key > msg.key]
        start = fold(MemberState(), ((m, net[m]) for m in before))
        decisions, _ = replay(start, [(m, RULES) for m in [msg, *later]])
        for m, d in zip([msg, *later], decisions, strict=True):
            net[m] = d
    assert net == expected


def test_advance_keeps_one_day_of_texts_at_most() -> None:
    state = MemberState()
    for i in range(300):
        state = advance(state, MessageFacts(i, T0 + i * 600, h(i)), Decision(10, "message"))
    assert len(state.recent) == RECENT_LIMIT
    assert all(ts > T0 + 299 * 600 - DAY for ts, _ in state.recent)


interactions = st.lists(
    st.tuples(st.integers(1, 12), st.integers(0, 5000)), min_size=1, max_size=20
)


def epoch_of(ts: int) -> int:
    """Epochs follow the date, as real ones do: epoch 2 begins at ts 2500."""
    return 1 if ts < 2500 else 2


@settings(max_examples=300, deadline=None)
@given(interactions, st.integers(0, 5), st.randoms(use_true_random=False))
def test_interaction_cap_keeps_the_first_members_whatever_the_order(
    events: list[tuple[int, int]], cap: int, rnd: random.Random
) -> None:
    def apply(sequence: list[tuple[int, int]]) -> dict[tuple[int, int], int]:
        table: dict[str, list[int]] = {}
        ledger: dict[tuple[int, int], int] = {}
        for actor, ts in sequence:
            table, changes = interaction_changes(
                table, actor=actor, ts=ts, points=3, epoch_id=epoch_of(ts), cap=cap, rule="reaction"
            )
            for change in changes:
                key = (change.actor, change.epoch_id)
                ledger[key] = ledger.get(key, 0) + change.points
        return {k: v for k, v in ledger.items() if v}

    shuffled = events[:]
    rnd.shuffle(shuffled)
    outcome = apply(events)
    assert outcome == apply(shuffled)
    earliest: dict[int, int] = {}
    for actor, ts in events:
        earliest[actor] = min(ts, earliest.get(actor, ts))
    ranked = sorted(earliest.items(), key=lambda item: (item[1], item[0]))[:cap]
    assert outcome == {(actor, epoch_of(ts)): 3 for actor, ts in ranked}
