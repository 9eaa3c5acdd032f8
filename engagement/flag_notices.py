"""Which sybil flags a group's managers have not been told about yet, claimed once.

Each group keeps a watermark: the newest flag (by when it was first raised) that its managers
were told of. Claiming moves the watermark with a guarded write, so of several gateway
processes sweeping at once only one tells the managers about a given batch of flags.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import utcnow
from core.models import Member
from core.models_engagement import Epoch, Flag
from core.models_upkeep import FlagNotice
from engagement import epochs, sql
from engagement.rules import SINCE_ALWAYS


@dataclass(frozen=True, slots=True)
class NewFlag:
    """A flag raised since the managers were last told, with the member's display name."""

    member_id: int
    name: str
    code: str
    detail: str


async def open_epochs(*, session: AsyncSession) -> list[tuple[int, int, datetime | None]]:
    """Every open epoch as `(chat_id, epoch_id, ends_at)`: the groups worth scanning."""
    t = Epoch.__table__  # type: ignore[attr-defined]
    stmt = select(t.c.chat_id, t.c.id, t.c.ends_at).where(t.c.state == epochs.OPEN)
    return [(int(c), int(e), end) for c, e, end in await sql.rows(session, stmt)]


async def claim(*, session: AsyncSession, chat_id: int) -> list[NewFlag]:
    """The group's flags raised since its last notice, now marked as told; empty when there
    are none or another process claimed them first. The caller commits, then tells."""
    n = FlagNotice.__table__  # type: ignore[attr-defined]
    f = Flag.__table__  # type: ignore[attr-defined]
    m = Member.__table__  # type: ignore[attr-defined]
    through = await sql.scalar(session, select(n.c.notified_through).where(n.c.chat_id == chat_id))
    since = through or SINCE_ALWAYS
    stmt = (
        select(f.c.member_id, f.c.code, f.c.detail, f.c.first_at, m.c.first_name, m.c.username)
        .select_from(f.outerjoin(m, m.c.id == f.c.member_id))
        .where(and_(f.c.chat_id == chat_id, f.c.first_at > since))
        .order_by(f.c.member_id, f.c.code)
    )
    found = await sql.rows(session, stmt)
    if not found:
        return []
    newest = max(row[3] for row in found)
    now = utcnow()
    insert = sql.upsert(session, FlagNotice).values(
        chat_id=chat_id, notified_through=newest, flags=len(found), updated_at=now
    )
    # Guarded on the watermark read above: a concurrent claim makes this write nothing.
    guard = n.c.notified_through.is_(None) if through is None else n.c.notified_through == through
    insert = insert.on_conflict_do_update(
        index_elements=["chat_id"],
        set_={"notified_through": newest, "flags": len(found), "updated_at": now},
        where=guard,
    )
    result = await sql.run(session, insert)
    if result.rowcount != 1:
        return []
    return [
        NewFlag(int(member), first or (f"@{username}" if username else str(member)), code, detail)
        for member, code, detail, _, first, username in found
    ]


async def pending_chats(*, session: AsyncSession) -> list[int]:
    """Groups with flags raised since their managers were last told."""
    n = FlagNotice.__table__  # type: ignore[attr-defined]
    f = Flag.__table__  # type: ignore[attr-defined]
    stmt = (
        select(f.c.chat_id)
        .select_from(f.outerjoin(n, n.c.chat_id == f.c.chat_id))
        .where((n.c.notified_through.is_(None)) | (f.c.first_at > n.c.notified_through))
        .distinct()
    )
    return sorted(int(c) for (c,) in await sql.rows(session, stmt))
