"""The sign-in messages of wallet linking, as pure functions over plain data.

The server builds the whole text (EIP-4361 for EVM wallets, SIWS for Solana wallets), stores it,
and later accepts a signature only over that exact text. The statement names the member by
Telegram id and username, never by display name: EIP-4361's statement grammar allows printable
ASCII only, without quotes, ``%``, ``<`` or ``>``, and display names are arbitrary Unicode.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from wallet import siwe, siws
from wallet.chains.evm import InvalidAddress as EvmInvalidAddress
from wallet.chains.evm import checksum
from wallet.errors import InvalidAddress
from wallet.siwe_grammar import format_datetime

Family = Literal["evm", "solana"]
EVM: Final = "evm"
SOLANA: Final = "solana"
FAMILIES: Final[tuple[Family, ...]] = ("evm", "solana")
FAMILY_NAMES: Final[dict[str, str]] = {"evm": "EVM", "solana": "Solana"}
# Telegram usernames: 5-32 of letters, digits and underscores; anything else is left out.
_USERNAME = re.compile(r"[A-Za-z0-9_]{1,32}")
_NONCE_LINE = re.compile(r"^Nonce: ([A-Za-z0-9]+)$", re.MULTILINE)


@dataclass(frozen=True, kw_only=True)
class LinkPolicy:
    """What the linking flow signs for and how long its pieces live.

    Attributes:
        evm_chain_id: the EIP-155 chain id in EVM messages, and the chain asked for EIP-1271.
        solana_chain_id: the SIWS ``Chain ID`` (``mainnet``, ``devnet``, ...).
        token_ttl: how long a link token sent in the chat works.
        message_ttl: how long a sign-in message stays valid after it is issued.
    """

    evm_chain_id: int = 1
    solana_chain_id: str = "mainnet"
    token_ttl: timedelta = timedelta(minutes=15)
    message_ttl: timedelta = timedelta(minutes=10)

    def chain_id(self, family: str) -> str:
        """The chain id of ``family`` as stored with a link (text for both families)."""
        return str(self.evm_chain_id) if family == EVM else self.solana_chain_id


def check_family(family: str) -> Family:
    """Return ``family`` if it is a supported chain family.

    Raises:
        ValueError: for any other value.
    """
    if family == EVM:
        return "evm"
    if family == SOLANA:
        return "solana"
    raise ValueError(f"unknown chain family {family!r}; expected one of {', '.join(FAMILIES)}")


def normalize_address(family: str, address: str) -> str:
    """The canonical form of an address: EIP-55 for EVM, the base58 text for Solana.

    Raises:
        InvalidAddress: not an address of ``family``, or a mixed-case EVM address whose EIP-55
            checksum is wrong.
    """
    if check_family(family) == EVM:
        try:
            return checksum(address)
        except EvmInvalidAddress as exc:
            raise InvalidAddress(str(exc)) from exc
    siws.public_key(address)
    return address


def short_address(address: str) -> str:
    """A short form for chat texts and buttons: ``0xAbc…123`` or ``7xKX…AsU9``."""
    if address.startswith("0x") and len(address) > 10:
        return f"{address[:5]}…{address[-3:]}"
    if len(address) > 10:
        return f"{address[:4]}…{address[-4:]}"
    return address


def link_statement(
    *, member_id: int, username: str | None = None, chat_id: int | None = None
) -> str:
    """The human-readable line of the message: who the wallet is linked to, and from where."""
    who = f"Telegram member {member_id}"
    if username and _USERNAME.fullmatch(username):
        who += f" (@{username})"
    where = f" from group {chat_id}" if chat_id is not None else ""
    return f"Link this wallet to {who}{where} on Townsquare."


def nonce_of(text: str) -> str | None:
    """The value of the message's ``Nonce:`` line, read without parsing the rest of it."""
    match = _NONCE_LINE.search(text)
    return match.group(1) if match else None


def build_message(
    *,
    family: str,
    address: str,
    statement: str,
    domain: str,
    uri: str,
    policy: LinkPolicy,
    nonce: str,
    issued_at: datetime,
) -> str:
    """The exact text the wallet is asked to sign.

    ``Not Before`` repeats ``Issued At`` so that a message dated in the future is refused by
    the EIP-4361 verifier too (it checks the not-before time, not the issued-at time).

    Args:
        family: ``evm`` or ``solana``.
        address: the wallet, in canonical form (see `normalize_address`).
        statement: see `link_statement`.
        domain: the gateway's public host (RFC 3986 authority).
        uri: the gateway's base URL.
        policy: chain ids and the message lifetime.
        nonce: a fresh nonce (letters and digits, at least 8).
        issued_at: an aware datetime; the message expires ``policy.message_ttl`` later.

    Raises:
        MalformedMessage: a field breaks the grammar of the message.
        InvalidAddress: the address is not canonical for ``family``.
    """
    issued = format_datetime(issued_at)
    expires = format_datetime(issued_at + policy.message_ttl)
    if check_family(family) == EVM:
        return siwe.SiweMessage(
            domain=domain,
            address=address,
            statement=statement,
            uri=uri,
            chain_id=policy.evm_chain_id,
            nonce=nonce,
            issued_at=issued,
            expiration_time=expires,
            not_before=issued,
        ).to_text()
    return siws.SiwsMessage(
        domain=domain,
        address=address,
        statement=statement,
        uri=uri,
        version="1",
        chain_id=policy.solana_chain_id,
        nonce=nonce,
        issued_at=issued,
        expiration_time=expires,
        not_before=issued,
    ).to_text()
