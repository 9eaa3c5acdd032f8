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
from datetime import datetime
from typing import TYPE_CHECKING

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
