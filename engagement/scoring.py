"""Pure scoring: what a message, a reply or a reaction earns, over plain data.

Order independence is the point of this module. A member's messages are judged in the order of
their *dates* (ties broken by message id), never in the order they arrive: `decide` looks only
at the member's earlier messages, summarised in a `MemberState`. When a message arrives late
(dated before one already judged), the caller replays the member's later messages with `replay`
and appends corrections, so the net points of every message end up the same whatever the
delivery order. The per-message cap on replies and reactions works the same way: the members
counted are always the first `cap` by `(date, member id)`, see `interaction_changes`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from engagement.rules import MAX_WINDOW, MessageRules

DAY = 86_400
# Updates dated further than this ahead of the server clock are treated as sent now.
CLOCK_SKEW = timedelta(seconds=30)
# How many of a member's recent texts (see `MemberState.recent`) a new one is compared with,
# the newest within the window: more than the default daily cap pays for, and it bounds the
# state read per message.
RECENT_LIMIT = 64

# Decisions a message's own content settles, whatever else the member wrote.
LOCAL_RULES = frozenset({"forwarded", "no_text", "links_only", "emoji_only", "too_short"})
EARNING_RULE = "message"
DUPLICATE = "duplicate"


def effective_time(sent: datetime, now: datetime, *, skew: timedelta = CLOCK_SKEW) -> datetime:
    """The date scoring uses for a cause: its own date, unless that lies in the future.

    Telegram stamps updates with its clock; ours may differ a little. A date up to `skew` ahead
    is kept as is (our clock is probably behind); one further ahead is not believed and the
    server's `now` is used instead, so a forged or broken date cannot reach a future epoch.
    Dates in the past are kept: late delivery is normal and is handled by replay.
    """
    return now if sent - now > skew else sent


def local_verdict(
    rules: MessageRules, *, content_weight: int, has_text: bool, has_link: bool, forwarded: bool
) -> str | None:
    """The rule that rejects a message on its content alone, or None if it may earn."""
    if forwarded:
        return "forwarded"
    if not has_text:
        return "no_text"
    if content_weight == 0:
        return "links_only" if has_link else "emoji_only"
    if content_weight < rules.min_length:
        return "too_short"
    return None


@dataclass(frozen=True, slots=True)
class MessageFacts:
    """A message as scoring sees it: when, which, its text hash (0: no text), local verdict."""

    message_id: int
    ts: int
    text_hash: int
    local: str | None = None

    @property
    def key(self) -> tuple[int, int]:
        return (self.ts, self.message_id)


@dataclass(frozen=True, slots=True)
class Decision:
    """How many points a message earns and the rule that decided it."""

    points: int
    rule: str


@dataclass(frozen=True, slots=True)
class MemberState:
    """A member's history as far as the next message's decision needs it."""

    latest: tuple[int, int] | None = None
    last_credit_ts: int | None = None
    day: int = 0
    day_count: int = 0
    day_points: int = 0
    # `(ts, text_hash)` of the texts that earned or repeated one that had, within `MAX_WINDOW`,
    # oldest first. A repeat is kept so that repeating a text keeps its window open; texts that
    # earned nothing for other reasons (cooldown, cap, content) are not, so that a burst of them
    # cannot push a paid text out of the list and free it to be paid again.
    recent: tuple[tuple[int, int], ...] = field(default_factory=tuple)
    has_qualified: bool = False


def _tier_points(rules: MessageRules, earned_today: int) -> int:
    tier = earned_today // rules.full_points_messages
    points = rules.points
    for _ in range(tier):
        points = points * rules.diminishing_percent // 100
        if points == 0:
            break
    return points


def decide(rules: MessageRules, state: MemberState, msg: MessageFacts) -> Decision:
    """Points for `msg` given the member's earlier messages (`state`).

    Checks in order: content (`LOCAL_RULES`), repeat within the window of an own text that
    earned (`MemberState.recent`), cooldown since the last message that earned, diminishing
    returns, daily cap.

    Args:
        rules: the message rules of the version in force at the message's date.
        state: the member's messages dated before `msg`, summarised by `advance`.
        msg: the message to judge.

    Returns:
        The points (0 or more) and the rule that decided them.
    """
    if msg.local is not None:
        return Decision(0, msg.local)
    if msg.text_hash and rules.duplicate_window_seconds:
        own, bits, window = msg.text_hash, rules.near_duplicate_bits, rules.duplicate_window_seconds
        for ts, text_hash in state.recent:
            # `text.distance`, inline: this runs for each of up to 64 recent texts per message.
            if (text_hash ^ own).bit_count() <= bits and msg.ts - ts < window:
                return Decision(0, DUPLICATE)
    if state.last_credit_ts is not None and msg.ts - state.last_credit_ts < rules.cooldown_seconds:
        return Decision(0, "cooldown")
    if rules.points == 0:
        return Decision(0, EARNING_RULE)
    same_day = msg.ts // DAY == state.day
    count = state.day_count if same_day else 0
    earned = state.day_points if same_day else 0
    points = _tier_points(rules, count)
    if points == 0:
        return Decision(0, "diminishing")
    points = min(points, rules.daily_cap - earned)
    if points <= 0:
        return Decision(0, "daily_cap")
    return Decision(points, EARNING_RULE)


def advance(state: MemberState, msg: MessageFacts, decision: Decision) -> MemberState:
    """The state after `msg` was judged `decision` (messages must come in date order)."""
    day = msg.ts // DAY
    same_day = day == state.day
    count = state.day_count if same_day else 0
    earned = state.day_points if same_day else 0
    last_credit = state.last_credit_ts
    if decision.points > 0:
        count, earned, last_credit = count + 1, earned + decision.points, msg.ts
    recent = state.recent
    horizon = msg.ts - MAX_WINDOW
    if recent and recent[0][0] <= horizon:
        recent = tuple(entry for entry in recent if entry[0] > horizon)
    own = msg.text_hash
    if own and (decision.points > 0 or decision.rule == DUPLICATE):
        # An older copy of the same text can match nothing the newer one would not.
        recent = (*(entry for entry in recent if entry[1] != own), (msg.ts, own))[-RECENT_LIMIT:]
    return MemberState(
        latest=msg.key,
        last_credit_ts=last_credit,
        day=day,
        day_count=count,
        day_points=earned,
        recent=recent,
        has_qualified=state.has_qualified or msg.local is None,
    )


def replay(
    start: MemberState, messages: Iterable[tuple[MessageFacts, MessageRules]]
) -> tuple[list[Decision], MemberState]:
    """Judges messages (already in date order), each under its own rules version."""
    state = start
    decisions = []
    for msg, rules in messages:
        decision = decide(rules, state, msg)
        decisions.append(decision)
        state = advance(state, msg, decision)
    return decisions, state


def fold(start: MemberState, judged: Iterable[tuple[MessageFacts, Decision]]) -> MemberState:
    """The state after messages whose decisions are already recorded (in date order)."""
    state = start
    for msg, decision in judged:
        state = advance(state, msg, decision)
    return state


@dataclass(frozen=True, slots=True)
class Change:
    """A ledger row to append for an interaction: `points` to the author, for `actor`."""

    actor: int
    points: int
    epoch_id: int
    revision: int
    rule: str


def interaction_changes(
    actors: Mapping[str, list[int]],
    *,
    actor: int,
    ts: int,
    points: int,
    epoch_id: int,
    cap: int,
    rule: str,
) -> tuple[dict[str, list[int]], list[Change]]:
    """Adds one member's reply or reaction to a message and keeps the cap exact.

    `actors` maps a member id to `[ts, points, epoch_id, revision]` (revision -1: no row yet).
    The members counted are the first `cap` by `(ts, member id)` among all who ever interacted,
    a member's ts being their earliest. A newcomer can push the last counted member out: that
    member's points are taken back (`interaction_cap`). The set counted is thus a function of
    the set of interactions, not of their order.
    """
    table = {k: list(v) for k, v in actors.items()}
    key = str(actor)
    previous = table.get(key)
    if previous is not None and previous[0] <= ts:
        return table, []
    if previous is None:
        table[key] = [ts, 0, epoch_id, -1]
    else:
        previous[0] = ts
    ranked = sorted(table.items(), key=lambda item: (item[1][0], int(item[0])))
    counted = {k for k, _ in ranked[:cap]}
    changes: list[Change] = []
    for member, (_, held, held_epoch, revision) in sorted(table.items()):
        if held and (member not in counted or member == key and held_epoch != epoch_id):
            changes.append(Change(int(member), -held, held_epoch, revision + 1, "interaction_cap"))
            table[member] = replace_entry(table[member], points=0, revision=revision + 1)
    entry = table[key]
    if key in counted and entry[1] == 0 and points > 0:
        changes.append(Change(actor, points, epoch_id, entry[3] + 1, rule))
        table[key] = [entry[0], points, epoch_id, entry[3] + 1]
    return table, changes


def replace_entry(entry: list[int], *, points: int, revision: int) -> list[int]:
    """An actor entry with new points and revision, same date and epoch."""
    return [entry[0], points, entry[2], revision]
