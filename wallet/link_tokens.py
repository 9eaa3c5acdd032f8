"""One-time link tokens: issued in the chat, opened by the link page, spent by a link.

Only a token's SHA-256 is stored. Service functions take ``*, session`` and never commit.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import clock
from core.models import Member
from core.models_wallet import WalletChallenge, WalletLinkToken
from wallet import link_messages as lm
from wallet.link_errors import TokenExpired, TokenNotYours, TokenUnknown, TokenUsed


@dataclass(frozen=True)
class TokenView:
    """A valid link token, as the link page shows it."""

    token_id: int
    member_id: int
    username: str | None
    family: lm.Family
    chat_id: int | None
    expires_at: datetime


def hash_token(token: str) -> str:
    """The stored form of a link token: hex SHA-256 (the token itself has 256 random bits)."""
    return hashlib.sha256(token.encode()).hexdigest()


def now_or_clock(now: datetime | None) -> datetime:
    """`now` when a caller fixes the time (tests, replays), else the clock."""
    return clock.utcnow() if now is None else now


async def execute(session: AsyncSession, statement: Any) -> Any:
    """Runs a bulk UPDATE or DELETE, which `session.exec` types only for SELECT."""
    return await session.exec(statement)


async def issue_token(
    *,
    session: AsyncSession,
    member_id: int,
    family: str,
    chat_id: int | None = None,
    policy: lm.LinkPolicy = lm.LinkPolicy(),
    now: datetime | None = None,
) -> str:
    """Create a one-time link token for ``member_id`` and one chain family.

    Args:
        session: the caller's transaction.
        member_id: the Telegram user the token links wallets to (a `members` row).
        family: ``evm`` or ``solana``.
        chat_id: the group the member came from, named in the message, if any.
        policy: gives the token's lifetime.
        now: the current time (default: the clock).

    Returns:
        The token to put in the link page's URL; only its hash is stored.
    """
    moment = now_or_clock(now)
    await purge_expired(session=session, now=moment)
    token = secrets.token_urlsafe(32)
    session.add(
        WalletLinkToken(
            token_hash=hash_token(token),
            member_id=member_id,
            chain_family=lm.check_family(family),
            chat_id=chat_id,
            created_at=moment,
            expires_at=moment + policy.token_ttl,
        )
    )
    await session.flush()
    return token


async def find_token(session: AsyncSession, token: str, member_id: int | None) -> WalletLinkToken:
    found = await session.exec(
        select(WalletLinkToken).where(WalletLinkToken.token_hash == hash_token(token))
    )
    row = found.first()
    if row is None:
        raise TokenUnknown("this link is not valid; send /link in the chat for a new one")
    if member_id is not None and row.member_id != member_id:
        raise TokenNotYours("this link was made for another member")
    return row


def check_fresh(row: WalletLinkToken, moment: datetime) -> None:
    if row.used_at is not None:
        raise TokenUsed("this link was already used; send /link in the chat for a new one")
    if moment >= row.expires_at:
        raise TokenExpired("this link has expired; send /link in the chat for a new one")


async def open_token(
    *, session: AsyncSession, token: str, member_id: int | None = None, now: datetime | None = None
) -> TokenView:
    """Check a link token and describe it.

    Raises:
        TokenUnknown, TokenNotYours, TokenUsed, TokenExpired: the token cannot be used.
    """
    row = await find_token(session, token, member_id)
    check_fresh(row, now_or_clock(now))
    member = await session.get(Member, row.member_id)
    assert row.id is not None
    return TokenView(
        token_id=row.id,
        member_id=row.member_id,
        username=member.username if member else None,
        family=lm.check_family(row.chain_family),
        chat_id=row.chat_id,
        expires_at=row.expires_at,
    )


async def purge_expired(
    *, session: AsyncSession, now: datetime | None = None, keep: timedelta = timedelta(days=1)
) -> None:
    """Delete tokens (and their challenges) that expired more than ``keep`` ago.

    Links keep their own copy of the signed message, so nothing of value is lost.
    """
    cutoff = now_or_clock(now) - keep
    old = select(WalletLinkToken.id).where(col(WalletLinkToken.expires_at) < cutoff)
    await execute(session, delete(WalletChallenge).where(col(WalletChallenge.token_id).in_(old)))
    await execute(session, delete(WalletLinkToken).where(col(WalletLinkToken.expires_at) < cutoff))
