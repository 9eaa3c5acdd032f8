"""Scoring a group message into the ledger: the hot path and its late-delivery replay.

A message that is the member's newest by date is judged from the member's state row alone:
one statement reads and locks the state, then the entry, the score and the state are written.
A message dated before one already judged (late delivery, replays in any order) makes the
member's later messages be judged again from the ledger; each whose outcome changes gets a
correction row (its next revision). Either way a message's net points are what judging all of
the member's messages in date order gives.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import utcnow
from engagement import interactions, invites, late, ledger, rules, state, text
from engagement.scoring import (
    Decision,
    MessageFacts,
    advance,
    decide,
    effective_time,
    local_verdict,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """A group message as the bot received it, reduced to plain data."""

    chat_id: int
    message_id: int
    member_id: int
    update_id: int
    sent_at: datetime
    text: str | None
    forwarded: bool = False


@dataclass(frozen=True, slots=True)
class Scored:
    """What scoring a message did: its decision (None: not scored) and the rows written."""

    decision: Decision | None
    entries: list[ledger.Entry]
    at: datetime | None = None
    qualifies: bool = False
    reason: str = ""


def facts_of(msg: IncomingMessage, rules_: rules.Rules, at: datetime) -> MessageFacts:
    """What scoring needs of a message: its date, text hash and content verdict."""
    content = text.normalise(msg.text or "")
    verdict = local_verdict(
        rules_.message,
        content_weight=text.weight(content),
        has_text=bool(msg.text and msg.text.strip()),
        has_link=text.has_link(msg.text or ""),
        forwarded=msg.forwarded,
    )
    return MessageFacts(msg.message_id, int(at.timestamp()), text.simhash(content), verdict)


def message_entry(
    msg: IncomingMessage,
    facts: MessageFacts,
    decision: Decision,
    *,
    at: datetime,
    epoch_id: int,
    version: int,
) -> ledger.Entry:
    """The ledger entry of a message's decision."""
    return ledger.Entry(
        chat_id=msg.chat_id,
        epoch_id=epoch_id,
        member_id=msg.member_id,
        kind="message",
        rule=decision.rule,
        points=decision.points,
        rules_version=version,
        cause=ledger.message_cause(msg.message_id),
        occurred_at=at,
        update_id=msg.update_id,
        message_id=msg.message_id,
        text_hash=text.to_signed(facts.text_hash) if facts.text_hash else None,
    )


async def score_message(
    *, session: AsyncSession, msg: IncomingMessage, now: datetime | None = None
) -> Scored:
    """Judges one new group message and writes its ledger rows (and any corrections).

    Call it once per message, in the update's transaction, after the message was recorded.

    Args:
        session: the update's session; nothing is committed here.
        msg: the message.
        now: the server's clock, for the clock-skew rule (default: `core.clock.utcnow`).

    Returns:
        The decision (None when the chat is one the bot left, or the message's date falls in
        no open epoch) and the ledger entries written, corrections and invite credit included.
    """
    at = effective_time(msg.sent_at, (now or utcnow()).replace(microsecond=0))
    locked = await state.lock(
        session=session,
        chat_id=msg.chat_id,
        member_id=msg.member_id,
        at=at,
        message_id=msg.message_id,
    )
    if locked.bot_status in state.ABSENT:
        return Scored(None, [], reason="bot not in chat")
    version, epoch_id = await state.resolve_context(
        session=session,
        chat_id=msg.chat_id,
        at=at,
        version=locked.version,
        epoch_id=locked.epoch_id,
    )
    if version is None or epoch_id is None:
        # Its epoch closed before it arrived: a closed epoch never changes.
        log.info("message %s of chat %s dated %s: no open epoch", msg.message_id, msg.chat_id, at)
        return Scored(None, [], reason="no open epoch at the message date")
    rules_ = await rules.load_version(session=session, chat_id=msg.chat_id, version=version)
    facts = facts_of(msg, rules_, at)
    current = locked.state
    if current.latest is None or facts.key > current.latest:
        decision = decide(rules_.message, current, facts)
        after = advance(current, facts, decision)
        corrections: list[ledger.Entry] = []
    else:
        decision, after, corrections = await late.rejudge(
            session=session,
            chat_id=msg.chat_id,
            member_id=msg.member_id,
            update_id=msg.update_id,
            facts=facts,
            rules_=rules_,
            current=current,
        )
    entry = message_entry(msg, facts, decision, at=at, epoch_id=epoch_id, version=version)
    invite = await _invite_entry(
        session=session, msg=msg, locked=locked, qualifies=facts.local is None
    )
    await state.write(
        session=session,
        entry=entry,
        state=after,
        invite_credited=locked.invite_credited or invite is not None,
    )
    extra = [*corrections, invite] if invite is not None else corrections
    written = [entry, *await ledger.append(session=session, entries=extra)]
    if locked.pending_reactions:
        written += await interactions.resolve_pending(
            session=session,
            chat_id=msg.chat_id,
            message_id=msg.message_id,
            author_id=msg.member_id,
            sent_at=at,
            update_id=msg.update_id,
        )
    return Scored(decision, written, at=at, qualifies=facts.local is None)


async def _invite_entry(
    *, session: AsyncSession, msg: IncomingMessage, locked: state.Locked, qualifies: bool
) -> ledger.Entry | None:
    """The invite credit a member's first qualifying message releases for their referrer."""
    if not qualifies or locked.referrer_id is None or locked.invite_credited:
        return None
    if locked.joined_at is None:
        return None
    return await invites.invite_entry(
        session=session,
        chat_id=msg.chat_id,
        referrer_id=locked.referrer_id,
        invitee_id=msg.member_id,
        joined_at=locked.joined_at,
        update_id=msg.update_id,
    )
