"""Stored wallet links and their audit log: who holds a wallet, the primary of each chain
family, unlinking and promoting. Service functions take ``*, session`` and never commit."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.models_wallet import WalletAudit, WalletLink
from wallet.link_errors import LinkNotFound
from wallet.link_tokens import now_or_clock


def audit(
    session: AsyncSession,
    event: str,
    member_id: int,
    family: str,
    address: str,
    *,
    other: int | None = None,
    link_id: int | None = None,
    at: datetime | None = None,
) -> None:
    session.add(
        WalletAudit(
            event=event,
            member_id=member_id,
            other_member_id=other,
            chain_family=family,
            address=address,
            link_id=link_id,
            created_at=now_or_clock(at),
        )
    )


async def active_holder(session: AsyncSession, *, family: str, address: str) -> WalletLink | None:
    found = await session.exec(
        select(WalletLink)
        .where(WalletLink.chain_family == family, WalletLink.address == address)
        .where(col(WalletLink.unlinked_at).is_(None))
    )
    return found.first()


async def primary_of(session: AsyncSession, *, member_id: int, family: str) -> WalletLink | None:
    found = await session.exec(
        select(WalletLink)
        .where(WalletLink.member_id == member_id, WalletLink.chain_family == family)
        .where(col(WalletLink.is_primary), col(WalletLink.unlinked_at).is_(None))
    )
    return found.first()


async def active_links(*, session: AsyncSession, member_id: int) -> list[WalletLink]:
    """A member's active links: EVM first, then Solana, oldest first within a family."""
    found = await session.exec(
        select(WalletLink)
        .where(WalletLink.member_id == member_id, col(WalletLink.unlinked_at).is_(None))
        .order_by(col(WalletLink.chain_family), col(WalletLink.linked_at), col(WalletLink.id))
    )
    return list(found.all())


async def own_link(session: AsyncSession, member_id: int, link_id: int) -> WalletLink:
    link = await session.get(WalletLink, link_id)
    if link is None or link.member_id != member_id or link.unlinked_at is not None:
        raise LinkNotFound("no such linked wallet")
    return link


async def unlink(
    *, session: AsyncSession, member_id: int, link_id: int, now: datetime | None = None
) -> WalletLink:
    """Unlink one of the member's wallets; if it was primary, the oldest other becomes primary.

    Raises:
        LinkNotFound: the link is not an active link of ``member_id``.
    """
    moment = now_or_clock(now)
    link = await own_link(session, member_id, link_id)
    link.unlinked_at = moment
    session.add(link)
    audit(session, "unlink", member_id, link.chain_family, link.address, link_id=link_id, at=moment)
    # Flushed before a successor is promoted: the primary index holds on every statement.
    await session.flush()
    if link.is_primary:
        rest = [
            other
            for other in await active_links(session=session, member_id=member_id)
            if other.chain_family == link.chain_family
        ]
        if rest:
            await set_primary(session, rest[0], moment)
    return link


async def set_primary(session: AsyncSession, link: WalletLink, moment: datetime) -> None:
    link.is_primary = True
    session.add(link)
    audit(
        session,
        "primary",
        link.member_id,
        link.chain_family,
        link.address,
        link_id=link.id,
        at=moment,
    )
    await session.flush()


async def make_primary(
    *, session: AsyncSession, member_id: int, link_id: int, now: datetime | None = None
) -> WalletLink:
    """Make one of the member's wallets the primary of its chain family.

    Raises:
        LinkNotFound: the link is not an active link of ``member_id``.
    """
    link = await own_link(session, member_id, link_id)
    if link.is_primary:
        return link
    current = await primary_of(session, member_id=member_id, family=link.chain_family)
    if current is not None:
        current.is_primary = False
        session.add(current)
        await session.flush()
    await set_primary(session, link, now_or_clock(now))
    return link


async def audit_events(
    *, session: AsyncSession, event: str | None = None, member_id: int | None = None
) -> list[WalletAudit]:
    """Audit rows, oldest first; ``event="conflict"`` gives the sybil signals."""
    query = select(WalletAudit).order_by(col(WalletAudit.id))
    if event is not None:
        query = query.where(WalletAudit.event == event)
    if member_id is not None:
        query = query.where(WalletAudit.member_id == member_id)
    return list((await session.exec(query)).all())
