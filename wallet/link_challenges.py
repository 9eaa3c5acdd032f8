"""Sign-in challenges of wallet linking: the nonce and exact message issued for a token, the
signature check over that stored message, and spending the nonce and the token together."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.models_wallet import WalletChallenge, WalletLinkToken
from wallet import link_messages as lm
from wallet import siwe, siws
from wallet.link_errors import NonceUnknown, NonceUsed, TokenUsed, TooManyChallenges, WrongFamily
from wallet.link_tokens import execute, now_or_clock, open_token

if TYPE_CHECKING:
    from web3 import AsyncWeb3

NONCE_LENGTH = 24
# A member retrying (another account, a declined prompt) needs a few; a script needs thousands.
MAX_CHALLENGES_PER_TOKEN = 20


@dataclass(frozen=True)
class Challenge:
    nonce: str
    message: str
    expires_at: datetime


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
    moment = now_or_clock(now)
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


async def challenge_for(
    session: AsyncSession, token_row: WalletLinkToken, message: str
) -> WalletChallenge:
    nonce = lm.nonce_of(message)
    challenge = await session.get(WalletChallenge, nonce) if nonce else None
    if challenge is None or challenge.token_id != token_row.id:
        raise NonceUnknown("the message's nonce was not issued for this link")
    if challenge.used_at is not None:
        raise NonceUsed("the message's nonce was already used")
    return challenge


async def check_signature(
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


async def consume(session: AsyncSession, challenge: WalletChallenge, moment: datetime) -> None:
    # Conditional updates: of two concurrent requests with one nonce, only one finds it unused.
    used = await execute(
        session,
        update(WalletChallenge)
        .where(col(WalletChallenge.nonce) == challenge.nonce)
        .where(col(WalletChallenge.used_at).is_(None))
        .values(used_at=moment),
    )
    if used.rowcount != 1:
        raise NonceUsed("the message's nonce was already used")
    spent = await execute(
        session,
        update(WalletLinkToken)
        .where(col(WalletLinkToken.id) == challenge.token_id)
        .where(col(WalletLinkToken.used_at).is_(None))
        .values(used_at=moment),
    )
    if spent.rowcount != 1:
        raise TokenUsed("this link was already used; send /link in the chat for a new one")
