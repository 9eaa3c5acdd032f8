"""Sign-In with Ethereum (EIP-4361): the message and its verification.

`parse` and `SiweMessage.to_text` are pure and inverse to each other (the text grammar lives in
`wallet.siwe_grammar`). `verify` / `averify` check the claims (time window, domain, nonce, chain)
and then the EIP-191 ``personal_sign`` signature; when the signer is a contract wallet, they ask
the contract through EIP-1271 over the web3 client they are given.
"""

from __future__ import annotations

import hmac
import re
import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from core import clock
from wallet import siwe_grammar as grammar
from wallet.chains.evm import EIP1271_MAGIC
from wallet.errors import (
    ChainMismatch,
    DomainMismatch,
    Expired,
    InvalidSignature,
    MalformedMessage,
    NonceMismatch,
    NotYetValid,
)

if TYPE_CHECKING:
    from eth_typing import ChecksumAddress
    from web3 import AsyncWeb3, Web3
    from web3.types import TxParams

_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HEX = re.compile(r"(?:0[xX])?((?:[0-9a-fA-F]{2})*)")
_CAMEL = {
    "chainId": "chain_id",
    "issuedAt": "issued_at",
    "expirationTime": "expiration_time",
    "notBefore": "not_before",
    "requestId": "request_id",
}
_REQUIRED_FIELDS = ("domain", "address", "uri", "version", "chain_id", "nonce", "issued_at")


@dataclass(frozen=True, kw_only=True)
class SiweMessage:
    """One EIP-4361 message. Construction validates every field against the grammar.

    Times stay the exact strings of the message (so a parsed message renders back byte for
    byte); the ``*_dt`` properties give them as aware UTC datetimes. ``resources`` is stored as
    a tuple (a list is converted); ``None`` means no ``Resources:`` section, ``()`` an empty one.

    Raises:
        MalformedMessage: a field breaks the EIP-4361 grammar.
        InvalidAddress: the address is not EIP-55 checksummed.
    """

    domain: str
    address: str
    statement: str | None = None
    uri: str
    version: str = "1"
    chain_id: int
    nonce: str
    issued_at: str
    expiration_time: str | None = None
    not_before: str | None = None
    request_id: str | None = None
    resources: Sequence[str] | None = None
    scheme: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.resources, list):
            object.__setattr__(self, "resources", tuple(self.resources))
        grammar.validate_siwe(self)

    @classmethod
    def from_fields(cls, **values: Any) -> SiweMessage:
        """Build a message from camelCase (as in the spruceid vectors) or snake_case fields.

        Unlike the constructor, every field the message text requires must be given,
        ``version`` included.

        Raises:
            MalformedMessage: a field is unknown, missing, or breaks the grammar.
        """
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in values.items():
            name = _CAMEL.get(key, key)
            if name not in known or name in kwargs:
                raise MalformedMessage(f"unknown or repeated field {key!r}")
            kwargs[name] = value
        missing = [name for name in _REQUIRED_FIELDS if name not in kwargs]
        if missing:
            raise MalformedMessage(f"missing field(s): {', '.join(missing)}")
        return cls(**kwargs)

    def to_text(self) -> str:
        """Render the exact EIP-4361 text that the wallet signs."""
        return grammar.render_siwe(self)

    @property
    def issued_at_dt(self) -> datetime:
        return grammar.parse_datetime(self.issued_at)

    @property
    def expiration_time_dt(self) -> datetime | None:
        return (
            None if self.expiration_time is None else grammar.parse_datetime(self.expiration_time)
        )

    @property
    def not_before_dt(self) -> datetime | None:
        return None if self.not_before is None else grammar.parse_datetime(self.not_before)


def parse(text: str) -> SiweMessage:
    """Parse EIP-4361 text exactly as its ABNF grammar allows (fields in order, no trailing LF).

    Raises:
        MalformedMessage: the text breaks the grammar.
        InvalidAddress: the address is not EIP-55 checksummed.
    """
    return SiweMessage(**grammar.split_siwe(text))


def generate_nonce(length: int = 17) -> str:
    """A fresh random nonce of ``length`` letters and digits (the grammar forbids ``-``, ``_``)."""
    if length < 8:
        raise ValueError("an EIP-4361 nonce has at least 8 characters")
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def eip191_hash(text: str) -> bytes:
    """The EIP-191 ``personal_sign`` digest of ``text`` (version 0x45), as EIP-1271 receives it."""
    from eth_utils import keccak  # the eth_* libraries load on first use, not at start-up

    data = text.encode()
    return keccak(b"\x19Ethereum Signed Message:\n" + str(len(data)).encode() + data)


def signature_bytes(signature: str | bytes) -> bytes:
    """Decode a signature given as bytes or as hex (with or without ``0x``).

    Raises:
        InvalidSignature: the string is not an even number of hex digits.
    """
    if isinstance(signature, bytes | bytearray | memoryview):
        return bytes(signature)
    match = _HEX.fullmatch(signature) if isinstance(signature, str) else None
    if match is None:
        raise InvalidSignature(
            "signature must be bytes or an even count of hex digits (0x optional)"
        )
    return bytes.fromhex(match.group(1))


def _eoa_failure(digest: bytes, signature: bytes, address: str) -> str | None:
    """Why ``signature`` is not ``address``'s ECDSA signature of ``digest``; None if it is."""
    if len(signature) != 65:
        return f"signature is {len(signature)} bytes; an account signature has 65"
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    v = signature[64] - 27 if signature[64] >= 27 else signature[64]
    if v not in (0, 1):
        return f"signature recovery byte is {signature[64]}; expected 27, 28, 0 or 1"
    if not (0 < r < _SECP256K1_N and 0 < s < _SECP256K1_N):
        return "signature r or s is outside the secp256k1 group order"
    from eth_keys import keys
    from eth_keys.exceptions import BadSignature, ValidationError

    try:
        signer = keys.Signature(vrs=(v, r, s)).recover_public_key_from_msg_hash(digest)
    except (BadSignature, ValidationError, ValueError) as exc:
        return f"no public key recovers from the signature ({exc})"
    recovered = signer.to_checksum_address()
    if recovered != address:
        return f"signature was made by {recovered}, not by {address}"
    return None


def _check_magic(answer: bytes, address: str, failure: str) -> None:
    # As OpenZeppelin's SignatureChecker: the whole first word must be the selector, zero-padded.
    if answer[:32] != EIP1271_MAGIC.ljust(32, b"\0"):
        raise InvalidSignature(f"{failure}; contract wallet {address} refused it (EIP-1271)")


def _check_claims(
    message: SiweMessage,
    *,
    domain: str | None,
    nonce: str | None,
    chain_id: int | None,
    now: datetime | None,
) -> None:
    if domain is not None and message.domain != domain:
        raise DomainMismatch(f"message is for domain {message.domain!r}, expected {domain!r}")
    if nonce is not None and not hmac.compare_digest(message.nonce.encode(), nonce.encode()):
        raise NonceMismatch("message nonce is not the expected nonce")
    if chain_id is not None and message.chain_id != chain_id:
        raise ChainMismatch(f"message is for chain {message.chain_id}, expected {chain_id}")
    moment = clock.utcnow() if now is None else now
    if moment.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    expires, not_before = message.expiration_time_dt, message.not_before_dt
    if expires is not None and moment >= expires:
        raise Expired(f"message expired at {message.expiration_time}")
    if not_before is not None and moment < not_before:
        raise NotYetValid(f"message is not valid before {message.not_before}")


def _verify_offline(
    text: str, signature: str | bytes, claims: dict[str, Any]
) -> tuple[SiweMessage, bytes, bytes, str | None]:
    """Everything but the chain: the message, raw signature, digest and why ECDSA failed."""
    message = parse(text)
    _check_claims(message, **claims)
    raw = signature_bytes(signature)
    digest = eip191_hash(text)
    return message, raw, digest, _eoa_failure(digest, raw, message.address)


def _is_valid_signature_call(message: SiweMessage, digest: bytes, raw: bytes) -> TxParams:
    # Only contract wallets need it: eth_abi is loaded on first use, not at start-up.
    from eth_abi import encode

    data = EIP1271_MAGIC + encode(["bytes32", "bytes"], [digest, raw])
    return {"to": cast("ChecksumAddress", message.address), "data": data}


def verify(
    text: str,
    signature: str | bytes,
    *,
    domain: str | None = None,
    nonce: str | None = None,
    now: datetime | None = None,
    w3: Web3 | None = None,
    chain_id: int | None = None,
) -> SiweMessage:
    """Verify a signed EIP-4361 message and return it.

    Checks, in order: the grammar; ``domain``, ``nonce`` (constant-time) and ``chain_id`` when
    given; expiration and not-before against ``now`` (default: the current UTC time); then the
    EIP-191 signature. When the signature does not recover to the message's address and ``w3``
    is given and the address holds code, the contract is asked through EIP-1271.

    Args:
        text: the exact message text the wallet signed.
        signature: 65-byte ``r || s || v`` as hex or bytes (any length for contract wallets).
        domain: the expected domain (RFC 3986 authority), compared exactly.
        nonce: the nonce the server issued for this sign-in.
        now: an aware datetime to check the time window against.
        w3: a synchronous ``web3.Web3`` for the EIP-1271 fallback.
        chain_id: the expected EIP-155 chain id.

    Raises:
        VerificationError: a subclass naming the first check that failed.
    """
    claims = {"domain": domain, "nonce": nonce, "chain_id": chain_id, "now": now}
    message, raw, digest, failure = _verify_offline(text, signature, claims)
    if failure is None:
        return message
    if w3 is None or not bytes(w3.eth.get_code(cast("ChecksumAddress", message.address))):
        raise InvalidSignature(failure)
    from web3.exceptions import ContractLogicError  # web3 is loaded: w3 is its client

    try:
        answer = bytes(w3.eth.call(_is_valid_signature_call(message, digest, raw)))
    except ContractLogicError:
        answer = b""
    _check_magic(answer, message.address, failure)
    return message


async def averify(
    text: str,
    signature: str | bytes,
    *,
    domain: str | None = None,
    nonce: str | None = None,
    now: datetime | None = None,
    w3: AsyncWeb3 | None = None,
    chain_id: int | None = None,
) -> SiweMessage:
    """`verify` for async servers: the same checks, with an ``AsyncWeb3`` for EIP-1271.

    Raises:
        VerificationError: a subclass naming the first check that failed.
    """
    claims = {"domain": domain, "nonce": nonce, "chain_id": chain_id, "now": now}
    message, raw, digest, failure = _verify_offline(text, signature, claims)
    if failure is None:
        return message
    if w3 is None or not bytes(await w3.eth.get_code(cast("ChecksumAddress", message.address))):
        raise InvalidSignature(failure)
    from web3.exceptions import ContractLogicError  # web3 is loaded: w3 is its client

    try:
        answer = bytes(await w3.eth.call(_is_valid_signature_call(message, digest, raw)))
    except ContractLogicError:
        answer = b""
    _check_magic(answer, message.address, failure)
    return message
