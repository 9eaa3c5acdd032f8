"""The managers' dashboard: a rules preview over a busy epoch, and the analytics figures.

Both are pure functions over rows the dashboard reads in a few queries; these figures are their
own cost on one thread, for an epoch of 100,000 messages by 1,000 members with 20,000 messages
that drew replies or reactions.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from benchmarks.harness import Row, repeat, seconds
from engagement import analytics, preview
from engagement.rules import DEFAULT_RULES, apply_changes
from engagement.scoring import MessageFacts

MEMBERS = 1_000
MESSAGES = 100_000
TARGETS = 20_000
SAMPLES = 5
START = 1_800_000_000


def _epoch() -> preview.Inputs:
    rng = random.Random(7)
    messages = [
        preview.JudgedMessage(
            rng.randrange(MEMBERS),
            MessageFacts(i, START + rng.randrange(14 * 86_400), rng.getrandbits(64)),
        )
        for i in range(MESSAGES)
    ]
    targets = [
        preview.Interactions(
            rng.choice(("reply", "reaction")),
            rng.randrange(MEMBERS),
            {rng.randrange(MEMBERS): (START + rng.randrange(86_400), 1) for _ in range(6)},
        )
        for _ in range(TARGETS)
    ]
    return preview.Inputs(1, dict.fromkeys(range(MEMBERS), 100), {}, messages, targets, [])


def collect() -> list[Row]:
    data = _epoch()
    proposed = apply_changes(
        DEFAULT_RULES, {"message.points": "4", "message.cooldown_seconds": "0"}
    )
    rows = [
        Row(
            "dashboard: rules preview, 100k messages",
            "s",
            repeat(lambda: seconds(lambda: preview.recompute_inputs(proposed, data)), SAMPLES),
            higher_is_better=False,
            notes=["pure recompute; the database read is not included"],
        )
    ]
    at = datetime.fromtimestamp(START, UTC)
    written = [(m.member_id, at + timedelta(seconds=m.facts.ts - START)) for m in data.messages]
    joins = {m: at - timedelta(days=m % 50) for m in range(MEMBERS)}
    today = datetime.fromtimestamp(START + 14 * 86_400, tz=UTC).date()

    def figures() -> None:
        analytics.daily_activity(written, first=today - timedelta(days=29), last=today)
        analytics.retention(joins, written, today=today)
        analytics.histogram([m * 7 % 5000 for m in range(MEMBERS)])

    rows.append(
        Row(
            "dashboard: analytics figures, 100k messages",
            "s",
            repeat(lambda: seconds(figures), SAMPLES),
            higher_is_better=False,
        )
    )
    return rows
