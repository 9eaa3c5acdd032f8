"""Points that are not scored from chat: managers' grants and penalties, mini-app events."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import utcnow
from core.models_totals import MemberTotal
from engagement import ledger, rules, sql, state
from engagement.scoring import effective_time


class GrantError(ValueError):
    """A grant or penalty that cannot be made (no reason, too large, no open epoch)."""


async def manual(
    *,
    session: AsyncSession,
    chat_id: int,
    member_id: int,
    points: int,
    by: int,
    reason: str,
    update_id: int,
    at: datetime | None = None,
) -> ledger.Entry | None:
    """A manager's grant (points > 0) or penalty (points < 0), with the reason on the entry.

    The cause is the command's update, so a re-delivered command grants once.
    Returns the entry, or None if this update already granted.

    Raises:
        GrantError: zero points, no reason, more than the rules' `max_manual`, no open epoch.
    """
    reason = " ".join(reason.split())
    if points == 0:
        msg = "points must not be zero"
        raise GrantError(msg)
    if not reason:
        msg = "a reason is required"
        raise GrantError(msg)
    when = effective_time(at or utcnow(), utcnow())
    version, epoch_id = await state.context(session=session, chat_id=chat_id, at=when)
    version, epoch_id = await state.resolve_context(
        session=session, chat_id=chat_id, at=when, version=version, epoch_id=epoch_id
    )
    if version is None or epoch_id is None:
        msg = "no open epoch"
        raise GrantError(msg)
    limit = (await rules.load_version(session=session, chat_id=chat_id, version=version)).max_manual
    if abs(points) > limit:
        msg = f"at most {limit} points at once"
        raise GrantError(msg)
    kind = "grant" if points > 0 else "penalty"
    entry = ledger.Entry(
        chat_id=chat_id,
        epoch_id=epoch_id,
        member_id=member_id,
        kind=kind,
        rule=kind,
        points=points,
        rules_version=version,
        cause=ledger.manual_cause(update_id),
        occurred_at=when,
        update_id=update_id,
        actor_id=by,
        reason=reason[:256],
    )
    written = await ledger.append(session=session, entries=[entry])
    return written[0] if written else None


async def app_event(
    *,
    session: AsyncSession,
    chat_id: int,
    member_id: int,
    app_id: str,
    event_id: str,
    name: str,
    at: datetime,
    now: datetime | None = None,
    cap: int | None = None,
) -> ledger.Entry | None:
    """Points for a mini-app event, by the group's `app_events` rules; once per event id.

    With a `cap` (the most points this app's events may give the member in one epoch), an event
    that would pass it is still written, with 0 points and the reason, so the member sees it.

    Returns the entry written, or None when the event earns nothing or was counted before.
    """
    when = effective_time(at, now or utcnow())
    version, epoch_id = await state.context(session=session, chat_id=chat_id, at=when)
    version, epoch_id = await state.resolve_context(
        session=session, chat_id=chat_id, at=when, version=version, epoch_id=epoch_id
    )
    if version is None or epoch_id is None:
        return None
    points = (
        await rules.load_version(session=session, chat_id=chat_id, version=version)
    ).app_events.get(name, 0)
    if points == 0:
        return None
    reason = None
    if cap is not None:
        given = await app_points(
            session=session, epoch_id=epoch_id, member_id=member_id, app_id=app_id
        )
        if given + points > cap:
            points, reason = 0, f"over_cap: this app gives at most {cap} points per epoch"
    entry = ledger.Entry(
        chat_id=chat_id,
        epoch_id=epoch_id,
        member_id=member_id,
        kind="app",
        rule=f"app:{name}"[:32],
        points=points,
        rules_version=version,
        cause=ledger.app_cause(app_id, event_id)[:96],
        occurred_at=when,
        event_id=event_id[:128],
        reason=reason,
    )
    written = await ledger.append(session=session, entries=[entry])
    return written[0] if written else None


async def app_points(*, session: AsyncSession, epoch_id: int, member_id: int, app_id: str) -> int:
    """What one app's events have given a member in an epoch (the sum its cap bounds), read
    from the member's running totals rather than summed over the ledger."""
    t = MemberTotal.__table__  # type: ignore[attr-defined]
    stmt = select(func.coalesce(func.sum(t.c.points), 0)).where(
        t.c.epoch_id == epoch_id,
        t.c.member_id == member_id,
        t.c.kind == "app",
        t.c.app_id == app_id,
    )
    return int(await sql.scalar(session, stmt) or 0)
