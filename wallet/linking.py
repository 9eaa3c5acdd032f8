"""Wallet linking: verifying a signed link message and storing the link, under the policy that
a wallet belongs to one member at a time.

The pieces live in `link_tokens` (one-time tokens), `link_challenges` (nonces, messages and
signature checks), `link_records` (links, primaries, audit log) and `link_errors`; this module
names them all, so callers use `wallet.linking` alone.

Database service functions: each takes ``*, session`` and never commits, so the caller's
transaction decides. A refused request changes nothing, with one deliberate exception: when a
member proves control of a wallet already linked to another member, `verify_link` adds a
``conflict`` audit row (a sybil signal) before raising `WalletTaken`, and the caller commits it.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar


from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from core.models_wallet import WalletLink
from wallet import link_messages as lm
from wallet.errors import AddressMismatch
from wallet.link_challenges import (
    MAX_CHALLENGES_PER_TOKEN,
    NONCE_LENGTH,
    Challenge,
    challenge_for,
    check_signature,
    consume,
    issue_challenge,
)
from wallet.link_errors import (
    AlreadyLinked,
    LinkError,
    LinkNotFound,
    MessageAltered,
    NonceUnknown,
    NonceUsed,
    TokenExpired,
    TokenNotYours,
    TokenUnknown,
    TokenUsed,
    TooManyChallenges,
    WalletTaken,
    WrongFamily,
)
from wallet.link_records import (
    active_holder,
    active_links,
    audit,
    audit_events,
    make_primary,
    primary_of,
    unlink,
)
from wallet.link_tokens import (
    TokenView,
    check_fresh,
    find_token,
    hash_token,
    issue_token,
    now_or_clock,
    open_token,
    purge_expired,
)

if TYPE_CHECKING:
    from web3 import AsyncWeb3

NONCE_LENGTH = 24
# A member retrying (another account, a declined prompt) needs a few; a script needs thousands.
MAX_CHALLENGES_PER_TOKEN = 20


class LinkError(Exception):
    """A linking request was refused for a reason other than the signature check."""

    code: ClassVar[str] = "link_failed"


class TokenUnknown(LinkError):
    code: ClassVar[str] = "token_unknown"


class TokenExpired(LinkError):
    code: ClassVar[str] = "token_expired"


class TokenUsed(LinkError):
    code: ClassVar[str] = "token_used"


class TokenNotYours(LinkError):
    code: ClassVar[str] = "token_not_yours"


class WrongFamily(LinkError):
    code: ClassVar[str] = "wrong_family"


class TooManyChallenges(LinkError):
    code: ClassVar[str] = "too_many_challenges"


class WalletTaken(LinkError):
    """The wallet is linked to another member; the conflict was written to the audit log."""

    code: ClassVar[str] = "wallet_taken"


class AlreadyLinked(LinkError):
    code: ClassVar[str] = "already_linked"


class LinkNotFound(LinkError):
    code: ClassVar[str] = "link_not_found"


class NonceUnknown(NonceMismatch):
    code: ClassVar[str] = "nonce_unknown"


class NonceUsed(NonceMismatch):
    code: ClassVar[str] = "nonce_used"


class MessageAltered(VerificationError):
    code: ClassVar[str] = "message_altered"


@dataclass(frozen=True)
class TokenView:
    """A valid link token, as the link page shows it."""

    token_id: int
    member_id: int
    username: str | None
    family: lm.Family
    chat_id: int | None
    expires_at: datetime


@dataclass(frozen=True)
class Challenge:
    nonce: str
    message: str
    expires_at: datetime


def hash_token(token: str) -> str:
    """The stored form of a link token: hex SHA-256 (the token itself has 256 random bits)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _now(now: datetime | None) -> datetime:
    return clock.utcnow() if now is None else now


async def _exec(session: AsyncSession, statement: Any) -> Any:
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
    moment = _now(now)
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


async def _token_row(session: AsyncSession, token: str, member_id: int | None) -> WalletLinkToken:
    found = await session.exec(
        select(WalletLinkToken).where(WalletLinkToken.token_hash == hash_token(token))
    )
    row = found.first()
    if row is None:
        raise TokenUnknown("this link is not valid; send /link in the chat for a new one")
    if member_id is not None and row.member_id != member_id:
        raise TokenNotYours("this link was made for another member")
    return row


def _check_fresh(row: WalletLinkToken, moment: datetime) -> None:
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
    row = await _token_row(session, token, member_id)
    _check_fresh(row, _now(now))
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


async def issue_challenge(
    *,
    session: AsyncSession,
    token: str,
    family: str,
    address: str,
    domain: str,
    uri: str,
    policy: lm.LinkPolicy = lm.LinkPolicy(),
    now: datetime | None = None,
    member_id: int | None = None,
) -> Challenge:
    """Issue a fresh nonce and the exact message ``address`` must sign, and store both.

    Raises:
        LinkError: the token cannot be used, is for another chain family, or has issued
            `MAX_CHALLENGES_PER_TOKEN` challenges already.
        InvalidAddress: ``address`` is not an address of ``family`` (or fails EIP-55).
    """
    moment = _now(now)
    view = await open_token(session=session, token=token, member_id=member_id, now=moment)
    if lm.check_family(family) != view.family:
        raise WrongFamily(f"this link is for a {lm.FAMILY_NAMES[view.family]} wallet")
    canonical = lm.normalize_address(family, address)
    issued = await session.exec(
        select(func.count()).where(WalletChallenge.token_id == view.token_id)
    )
    if issued.one() >= MAX_CHALLENGES_PER_TOKEN:
        raise TooManyChallenges("too many attempts with this link; send /link for a new one")
    nonce = siwe.generate_nonce(NONCE_LENGTH)
    statement = lm.link_statement(
        member_id=view.member_id, username=view.username, chat_id=view.chat_id
    )
    message = lm.build_message(
        family=family,
        address=canonical,
        statement=statement,
        domain=domain,
        uri=uri,
        policy=policy,
        nonce=nonce,
        issued_at=moment,
    )
    expires_at = moment + policy.message_ttl
    session.add(
        WalletChallenge(
            nonce=nonce,
            token_id=view.token_id,
            chain_family=family,
            address=canonical,
            message=message,
            created_at=moment,
            expires_at=expires_at,
        )
    )
    await session.flush()
    return Challenge(nonce=nonce, message=message, expires_at=expires_at)


async def _challenge_for(
    session: AsyncSession, token_row: WalletLinkToken, message: str
) -> WalletChallenge:
    nonce = lm.nonce_of(message)
    challenge = await session.get(WalletChallenge, nonce) if nonce else None
    if challenge is None or challenge.token_id != token_row.id:
        raise NonceUnknown("the message's nonce was not issued for this link")
    if challenge.used_at is not None:
        raise NonceUsed("the message's nonce was already used")
    return challenge


async def _check_signature(
    challenge: WalletChallenge,
    signature: str,
    *,
    domain: str,
    policy: lm.LinkPolicy,
    w3: AsyncWeb3 | None,
    now: datetime,
) -> str:
    """Verify the signature over the stored message; returns it in a canonical text form."""
    text, nonce = challenge.message, challenge.nonce
    if challenge.chain_family == lm.EVM:
        chain_id = policy.evm_chain_id
        await siwe.averify(
            text, signature, domain=domain, nonce=nonce, now=now, w3=w3, chain_id=chain_id
        )
        return "0x" + siwe.signature_bytes(signature).hex()
    siws.verify(
        text,
        signature,
        address=challenge.address,
        domain=domain,
        nonce=nonce,
        now=now,
        max_age=policy.message_ttl,
        chain_id=policy.solana_chain_id,
    )
    return "0x" + siws.signature_bytes(signature).hex()


async def _consume(session: AsyncSession, challenge: WalletChallenge, moment: datetime) -> None:
    # Conditional updates: of two concurrent requests with one nonce, only one finds it unused.
    used = await _exec(
        session,
        update(WalletChallenge)
        .where(col(WalletChallenge.nonce) == challenge.nonce)
        .where(col(WalletChallenge.used_at).is_(None))
        .values(used_at=moment),
    )
    if used.rowcount != 1:
        raise NonceUsed("the message's nonce was already used")
    spent = await _exec(
        session,
        update(WalletLinkToken)
        .where(col(WalletLinkToken.id) == challenge.token_id)
        .where(col(WalletLinkToken.used_at).is_(None))
        .values(used_at=moment),
    )
    if spent.rowcount != 1:
        raise TokenUsed("this link was already used; send /link in the chat for a new one")


__all__ = [
    "MAX_CHALLENGES_PER_TOKEN",
    "NONCE_LENGTH",
    "AlreadyLinked",
    "Challenge",
    "LinkError",
    "LinkNotFound",
    "MessageAltered",
    "NonceUnknown",
    "NonceUsed",
    "TokenExpired",
    "TokenNotYours",
    "TokenUnknown",
    "TokenUsed",
    "TokenView",
    "TooManyChallenges",
    "WalletTaken",
    "WrongFamily",
    "active_links",
    "audit_events",
    "hash_token",
    "issue_challenge",
    "issue_token",
    "make_primary",
    "open_token",
    "purge_expired",
    "unlink",
    "verify_link",
]


async def verify_link(
    *,
    session: AsyncSession,
    token: str,
    family: str,
    address: str,
    message: str,
    signature: str,
    domain: str,
    policy: lm.LinkPolicy = lm.LinkPolicy(),
    w3: AsyncWeb3 | None = None,
    now: datetime | None = None,
    member_id: int | None = None,
) -> WalletLink:
    """Verify a signed link message and store the link.

    Checks, in order: the token exists (and is ``member_id``'s when given); the message's nonce
    was issued for this token and is unused; the token is unused and unexpired; family and
    address are the challenge's; the message is byte for byte the one issued; the signature
    (EIP-191 or EIP-1271 through ``w3``; ed25519), with domain, nonce, chain and times; and
    finally that the wallet is not another member's. The first wallet of a family is primary.

    Raises:
        LinkError: a token problem, a wrong family, `AlreadyLinked`, or `WalletTaken` (after
            adding a ``conflict`` audit row that the caller should commit).
        VerificationError: the message, its nonce or its signature was refused.
    """
    moment = now_or_clock(now)
    token_row = await find_token(session, token, member_id)
    challenge = await challenge_for(session, token_row, message)
    check_fresh(token_row, moment)
    if lm.check_family(family) != token_row.chain_family or family != challenge.chain_family:
        raise WrongFamily(f"this link is for a {token_row.chain_family} wallet")
    if lm.normalize_address(family, address) != challenge.address:
        raise AddressMismatch(f"the message was issued for {challenge.address}, not {address}")
    if not hmac.compare_digest(message.encode(), challenge.message.encode()):
        raise MessageAltered("the message differs from the one issued; sign it unchanged")
    stored_signature = await check_signature(
        challenge, signature, domain=domain, policy=policy, w3=w3, now=moment
    )
    owner = token_row.member_id
    holder = await active_holder(session, family=family, address=challenge.address)
    if holder is not None and holder.member_id == owner:
        raise AlreadyLinked("this wallet is already linked to you")
    if holder is not None:
        audit(session, "conflict", owner, family, challenge.address, other=holder.member_id)
        await session.flush()
        raise WalletTaken(
            "this wallet is already linked to another member; it must be unlinked there first"
        )
    await consume(session, challenge, moment)
    link = WalletLink(
        member_id=owner,
        chain_family=family,
        address=challenge.address,
        chain_id=policy.chain_id(family),
        is_primary=await primary_of(session, member_id=owner, family=family) is None,
        message=challenge.message,
        signature=stored_signature,
        linked_at=moment,
    )
    session.add(link)
    await session.flush()
    audit(session, "link", owner, family, link.address, link_id=link.id, at=moment)
    await session.flush()
    return link
