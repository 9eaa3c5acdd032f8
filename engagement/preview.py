"""What a rules change would have done to an epoch: its scores recomputed under other rules.

The epoch is judged again from what the ledger and the interaction table keep: each message's
facts (date, text hash, content verdict) from its first ledger row, every member who replied
to or reacted on a message with their date, the invite and mini-app credits, and the
managers' grants and penalties (which no rule prices, so they carry over as they are).
`recompute` is pure; `inputs` reads what it needs.

Two things cannot be judged again, because the gateway never stores message texts and
never writes a row for an event worth nothing: a message's content verdict (`too_short`
under a new `message.min_length`) stays as recorded, and mini-app events the rules in force
priced at 0 stay at 0. `Preview.caveats` names these when the change touches them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.models_engagement import Epoch, InteractionTarget, LedgerEntry
from engagement import sql, text
from engagement.rules import MAX_WINDOW, Rules
from engagement.scoring import DAY, LOCAL_RULES, MemberState, MessageFacts, replay

INTERACTION_KINDS = ("reply", "reaction")
REPRICED_KINDS = frozenset({"message", "reply", "reaction", "invite", "app"})


@dataclass(frozen=True, slots=True)
class JudgedMessage:
    """A member's message as scoring saw it; `counts` is False for the days before the epoch,
    which only set the member's state (cooldown, daily cap) at its start."""

    member_id: int
    facts: MessageFacts
    counts: bool = True


@dataclass(frozen=True, slots=True)
class Interactions:
    """Everyone who replied to (or reacted on) one message: actor id -> (date, epoch id)."""

    kind: str
    author_id: int
    actors: Mapping[int, tuple[int, int]]


@dataclass(frozen=True, slots=True)
class Credit:
    """A ledger cause outside messages and interactions, netted over its revisions."""

    member_id: int
    kind: str
    rule: str
    points: int


@dataclass(frozen=True, slots=True)
class MemberChange:
    member_id: int
    before: int
    after: int

    @property
    def delta(self) -> int:
        return self.after - self.before


@dataclass(frozen=True)
class Preview:
    """Scores before (the ledger) and after (the proposed rules), member by member and by kind."""

    members: list[MemberChange]
    by_kind_before: dict[str, int]
    by_kind_after: dict[str, int]
    caveats: list[str] = field(default_factory=list)

    @property
    def total_before(self) -> int:
        return sum(m.before for m in self.members)

    @property
    def total_after(self) -> int:
        return sum(m.after for m in self.members)


def _messages(rules: Rules, messages: Iterable[JudgedMessage]) -> dict[int, int]:
    """Each member's message points: their messages judged again in date order."""
    by_member: defaultdict[int, list[JudgedMessage]] = defaultdict(list)
    for message in messages:
        by_member[message.member_id].append(message)
    points: dict[int, int] = {}
    for member, own in by_member.items():
        own.sort(key=lambda m: m.facts.key)
        decisions, _ = replay(MemberState(), ((m.facts, rules.message) for m in own))
        points[member] = sum(d.points for m, d in zip(own, decisions, strict=True) if m.counts)
    return points


def _interactions(rules: Rules, targets: Iterable[Interactions], epoch_id: int) -> dict[int, int]:
    """Each author's reply and reaction points: the first `max_per_message` members by
    `(date, member id)` count, as `scoring.interaction_changes` keeps them."""
    cap = rules.interactions.max_per_message
    points: defaultdict[int, int] = defaultdict(int)
    for target in targets:
        each = (
            rules.interactions.reply_points
            if target.kind == "reply"
            else (rules.interactions.reaction_points)
        )
        ranked = sorted(target.actors.items(), key=lambda item: (item[1][0], item[0]))
        for _, (_, actor_epoch) in ranked[:cap]:
            if actor_epoch == epoch_id:
                points[target.author_id] += each
    return dict(points)


def _credit(rules: Rules, credit: Credit) -> int:
    """A credit's points under `rules`: invites and app events are priced again."""
    if credit.kind == "invite":
        return rules.invite.points if credit.points > 0 else 0
    if credit.kind == "app":
        name = credit.rule.removeprefix("app:")
        return rules.app_events.get(name, 0) if credit.points != 0 else 0
    return credit.points


def caveats(current: Rules, proposed: Rules) -> list[str]:
    """What the preview of a change from `current` to `proposed` cannot show."""
    notes = []
    if proposed.message.min_length != current.message.min_length:
        notes.append(
            "message.min_length: messages keep the length verdict they were given "
            "(texts are not stored)"
        )
    priced = {k for k, v in current.app_events.items() if v}
    if any(v and k not in priced for k, v in proposed.app_events.items()):
        notes.append("app_events: events that earned nothing were not recorded")
    return notes


def recompute(
    rules: Rules,
    *,
    epoch_id: int,
    before: Mapping[int, int],
    before_by_kind: Mapping[str, int],
    messages: Iterable[JudgedMessage],
    interactions: Iterable[Interactions],
    credits: Sequence[Credit],
) -> Preview:
    """The epoch's scores had `rules` been in force throughout it.

    Args:
        rules: the proposed rules.
        epoch_id: the epoch recomputed.
        before: each member's score in the ledger.
        before_by_kind: the ledger's points by kind (message, reply, reaction, ...).
        messages: the epoch's messages, and those of the day before it (`counts=False`).
        interactions: every message with replies or reactions dated in the epoch.
        credits: the epoch's other causes, netted per cause.

    Returns:
        Every member with points before or after, highest `after` first.
    """
    after: defaultdict[int, int] = defaultdict(int)
    by_kind: defaultdict[str, int] = defaultdict(int)
    for member, points in _messages(rules, messages).items():
        after[member] += points
        by_kind["message"] += points
    targets = list(interactions)
    for kind in INTERACTION_KINDS:
        of_kind = (t for t in targets if t.kind == kind)
        for member, points in _interactions(rules, of_kind, epoch_id).items():
            after[member] += points
            by_kind[kind] += points
    for credit in credits:
        points = _credit(rules, credit)
        after[credit.member_id] += points
        by_kind[credit.kind] += points
    members = [
        MemberChange(m, before.get(m, 0), after.get(m, 0))
        for m in set(before) | {m for m, p in after.items() if p}
    ]
    members.sort(key=lambda c: (-c.after, -c.before, c.member_id))
    kinds = set(before_by_kind) | set(by_kind)
    return Preview(
        members=members,
        by_kind_before={k: int(before_by_kind.get(k, 0)) for k in sorted(kinds)},
        by_kind_after={k: by_kind.get(k, 0) for k in sorted(kinds)},
    )


@dataclass(frozen=True)
class Inputs:
    """What `recompute` needs of one epoch, read from the database."""

    epoch_id: int
    before: dict[int, int]
    before_by_kind: dict[str, int]
    messages: list[JudgedMessage]
    interactions: list[Interactions]
    credits: list[Credit]


async def inputs(*, session: AsyncSession, epoch: Epoch) -> Inputs:
    """Reads an epoch's ledger and interactions for `recompute`."""
    assert epoch.id is not None
    t = LedgerEntry.__table__  # type: ignore[attr-defined]
    # A member's state at the epoch's start depends on their messages of the day before it.
    since = epoch.starts_at - timedelta(seconds=DAY + MAX_WINDOW)
    window = [t.c.chat_id == epoch.chat_id, t.c.kind == "message", t.c.revision == 0]
    window += [t.c.occurred_at >= since]
    if epoch.ends_at is not None:
        window.append(t.c.occurred_at < epoch.ends_at)
    rows = await sql.rows(
        session,
        select(
            t.c.member_id, t.c.message_id, t.c.occurred_at, t.c.text_hash, t.c.rule, t.c.epoch_id
        ).where(*window),
    )
    messages = [
        JudgedMessage(
            int(member),
            MessageFacts(
                int(message_id),
                int(at.timestamp()),
                text.to_unsigned(text_hash) if text_hash is not None else 0,
                rule if rule in LOCAL_RULES else None,
            ),
            counts=epoch_id == epoch.id,
        )
        for member, message_id, at, text_hash, rule, epoch_id in rows
        if message_id is not None
    ]
    sums = await sql.rows(
        session,
        select(t.c.member_id, t.c.kind, t.c.rule, t.c.cause, t.c.points).where(
            t.c.epoch_id == epoch.id
        ),
    )
    before: defaultdict[int, int] = defaultdict(int)
    by_kind: defaultdict[str, int] = defaultdict(int)
    causes: dict[str, Credit] = {}
    for member, kind, rule, cause, points in sums:
        before[int(member)] += int(points)
        by_kind[kind] += int(points)
        if kind in REPRICED_KINDS - {"invite", "app"}:
            continue
        held = causes.get(cause)
        net = int(points) + (held.points if held else 0)
        causes[cause] = Credit(int(member), kind, held.rule if held else rule, net)
    return Inputs(
        epoch_id=epoch.id,
        before=dict(before),
        before_by_kind=dict(by_kind),
        messages=messages,
        interactions=await _targets(session, epoch),
        credits=list(causes.values()),
    )


async def _targets(session: AsyncSession, epoch: Epoch) -> list[Interactions]:
    i = InteractionTarget.__table__  # type: ignore[attr-defined]
    rows = await sql.rows(
        session,
        select(i.c.kind, i.c.author_id, i.c.actors).where(
            i.c.chat_id == epoch.chat_id, i.c.author_id != 0
        ),
    )
    targets = []
    for kind, author, actors in rows:
        table = {int(a): (int(e[0]), int(e[2])) for a, e in actors.items()}
        if any(actor_epoch == epoch.id for _, actor_epoch in table.values()):
            targets.append(Interactions(kind, int(author), table))
    return targets


def recompute_inputs(rules: Rules, data: Inputs) -> Preview:
    """`recompute` over what `inputs` read."""
    return recompute(
        rules,
        epoch_id=data.epoch_id,
        before=data.before,
        before_by_kind=data.before_by_kind,
        messages=data.messages,
        interactions=data.interactions,
        credits=data.credits,
    )
