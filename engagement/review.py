"""Managers' review of members: flags to look at, and exclusion from (or return to) allocation.

An excluded member's entries stay in the ledger and their score keeps counting; only the
allocation and the leaderboard leave them out, and the member can see why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import utcnow
from core.models import Member, Membership
from core.models_engagement import Flag, Standing
from engagement import sql

EXCLUDED, CLEARED = "excluded", "cleared"


@dataclass(frozen=True, slots=True)
class FlagView:
    """A member's open flags, as a manager sees them."""

    member_id: int
    name: str
    codes: list[tuple[str, str]]
    excluded: bool


async def standing(*, session: AsyncSession, chat_id: int, member_id: int) -> Standing | None:
    """A manager's decision on a member, if any."""
    return await session.get(Standing, (chat_id, member_id))


async def decide(
    *,
    session: AsyncSession,
    chat_id: int,
    member_id: int,
    status: str,
    by: int | None,
    reason: str,
    now: datetime | None = None,
) -> Standing:
    """Excludes a member (`excluded`) or lifts the exclusion and the flags (`cleared`)."""
    if status not in (EXCLUDED, CLEARED):
        msg = f"unknown standing {status!r}"
        raise ValueError(msg)
    values = {
        "status": status,
        "reason": reason[:256],
        "decided_by": by,
        "decided_at": now or utcnow(),
    }
    stmt = sql.upsert(session, Standing).values(chat_id=chat_id, member_id=member_id, **values)
    stmt = stmt.on_conflict_do_update(index_elements=["chat_id", "member_id"], set_=values)
    await sql.run(session, stmt)
    row = await session.get(Standing, (chat_id, member_id), populate_existing=True)
    assert row is not None
    return row


async def open_flags(*, session: AsyncSession, chat_id: int, limit: int = 50) -> list[FlagView]:
    """Flags raised since the member was last cleared, grouped by member, newest first."""
    f = Flag.__table__  # type: ignore[attr-defined]
    s = Standing.__table__  # type: ignore[attr-defined]
    m = Member.__table__  # type: ignore[attr-defined]
    stmt = (
        select(f.c.member_id, f.c.code, f.c.detail, s.c.status, m.c.first_name, m.c.username)
        .select_from(
            f.outerjoin(
                s, and_(s.c.chat_id == f.c.chat_id, s.c.member_id == f.c.member_id)
            ).outerjoin(m, m.c.id == f.c.member_id)
        )
        .where(
            f.c.chat_id == chat_id,
            (s.c.status.is_(None)) | (s.c.status != CLEARED) | (f.c.last_at > s.c.decided_at),
        )
        .order_by(f.c.last_at.desc(), f.c.member_id, f.c.code)
    )
    views: dict[int, FlagView] = {}
    for member, code, detail, status, first, username in await sql.rows(session, stmt):
        view = views.get(int(member))
        if view is None:
            if len(views) >= limit:
                continue
            name = first or (f"@{username}" if username else str(member))
            view = views[int(member)] = FlagView(int(member), name, [], status == EXCLUDED)
        view.codes.append((code, detail))
    return list(views.values())


async def find_member(
    *, session: AsyncSession, chat_id: int, handle: str
) -> tuple[int, str] | None:
    """A member of the group by `@username` or numeric id, with a display name."""
    m = Member.__table__  # type: ignore[attr-defined]
    ms = Membership.__table__  # type: ignore[attr-defined]
    if handle.startswith("@"):
        match = func.lower(m.c.username) == handle[1:].lower()
    elif handle.isdigit():
        match = m.c.id == int(handle)
    else:
        return None
    stmt = (
        select(m.c.id, m.c.first_name, m.c.username)
        .select_from(m.join(ms, and_(ms.c.member_id == m.c.id, ms.c.chat_id == chat_id)))
        .where(match)
        .limit(1)
    )
    found = await sql.rows(session, stmt)
    if not found:
        return None
    member, first, username = found[0]
    return int(member), first or (f"@{username}" if username else str(member))
