"""Sign In With Solana: Phantom's SIWS message (the Wallet Standard ``solana:signIn`` text) and its
ed25519 verification.

Everything after the address is optional and, when present, in this order::

    ${domain} wants you to sign in with your Solana account:
    ${address}

    ${statement}

    URI: ${uri}
    Version: 1
    Chain ID: ${chain-id}
    Nonce: ${nonce}
    Issued At: ${issued-at}
    Expiration Time: ${expiration-time}
    Not Before: ${not-before}
    Request ID: ${request-id}
    Resources:
    - ${resource}

Field values follow the ABNF of Phantom's specification (shared RFC rules in
`wallet.siwe_grammar`). A statement may not begin like a field line (``Nonce: ...``): otherwise a
statement-less message and a message whose statement mimics a field would read the same.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import base58
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from core import clock
from wallet import siwe_grammar as grammar
from wallet.errors import (
    AddressMismatch,
    ChainMismatch,
    DomainMismatch,
    Expired,
    InvalidAddress,
    InvalidSignature,
    MalformedMessage,
    NonceMismatch,
    NotYetValid,
)

HEADER = " wants you to sign in with your Solana account:"
CHAIN_IDS = frozenset(
    {
        "mainnet",
        "testnet",
        "devnet",
        "localnet",
        "solana:mainnet",
        "solana:testnet",
        "solana:devnet",
    }
)
DEFAULT_MAX_AGE = timedelta(minutes=10)
CLOCK_SKEW = timedelta(minutes=1)
_BASE58 = re.compile(r"[1-9A-HJ-NP-Za-km-z]+")
_ADDRESS = re.compile(r"[1-9A-HJ-NP-Za-km-z]{32,44}")
_HEX_SIGNATURE = re.compile(r"(?:0[xX])?([0-9a-fA-F]{128})")
_FIELD_LINES = (
    ("uri", "URI: "),
    ("version", "Version: "),
    ("chain_id", "Chain ID: "),
    ("nonce", "Nonce: "),
    ("issued_at", "Issued At: "),
    ("expiration_time", "Expiration Time: "),
    ("not_before", "Not Before: "),
    ("request_id", "Request ID: "),
)
_FIELD_STARTS = (*(tag for _, tag in _FIELD_LINES), "Resources:")


@dataclass(frozen=True, kw_only=True)
class SiwsMessage:
    """One SIWS message. Construction validates every field.

    As `wallet.siwe.SiweMessage`: times stay strings (``*_dt`` properties parse them) and
    ``resources`` is a tuple, ``None`` when the message has no ``Resources:`` line.

    Raises:
        MalformedMessage: a field breaks the grammar.
        InvalidAddress: the address is not a base58 32-byte public key.
    """

    domain: str
    address: str
    statement: str | None = None
    uri: str | None = None
    version: str | None = None
    chain_id: str | None = None
    nonce: str | None = None
    issued_at: str | None = None
    expiration_time: str | None = None
    not_before: str | None = None
    request_id: str | None = None
    resources: Sequence[str] | None = None
    scheme: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.resources, list):
            object.__setattr__(self, "resources", tuple(self.resources))
        _validate(self)

    def to_text(self) -> str:
        """Render the exact text the wallet signs (as the Wallet Standard's
        ``createSignInMessageText``)."""
        origin = f"{self.scheme}://{self.domain}" if self.scheme else self.domain
        text = f"{origin}{HEADER}\n{self.address}"
        if self.statement is not None:
            text += f"\n\n{self.statement}"
        lines = [
            f"{tag}{getattr(self, name)}"
            for name, tag in _FIELD_LINES
            if getattr(self, name) is not None
        ]
        if self.resources is not None:
            lines.append("Resources:")
            lines.extend(f"- {resource}" for resource in self.resources)
        if lines:
            text += "\n\n" + "\n".join(lines)
        return text

    @property
    def issued_at_dt(self) -> datetime | None:
        return None if self.issued_at is None else grammar.parse_datetime(self.issued_at)

    @property
    def expiration_time_dt(self) -> datetime | None:
        return (
            None if self.expiration_time is None else grammar.parse_datetime(self.expiration_time)
        )

    @property
    def not_before_dt(self) -> datetime | None:
        return None if self.not_before is None else grammar.parse_datetime(self.not_before)


def public_key(address: str) -> bytes:
    """The 32 bytes of a base58 Solana address.

    Raises:
        InvalidAddress: ``address`` is not base58 text of exactly 32 bytes.
    """
    if not grammar.is_text(address, _ADDRESS) or len(key := base58.b58decode(address)) != 32:
        raise InvalidAddress(f"address {address!r} is not a base58 32-byte public key")
    return key


def _optional(value: object, ok: bool, problem: str) -> None:
    grammar.check(value is None or ok, problem)


def _validate(m: SiwsMessage) -> None:
    grammar.check_origin(m.scheme, m.domain)
    public_key(m.address)
    statement = m.statement
    _optional(
        statement,
        grammar.is_text(statement, grammar.STATEMENT)
        and statement != ""
        and not str(statement).startswith(_FIELD_STARTS),
        f"statement {statement!r} is empty, has characters outside RFC 3986 reserved/unreserved/"
        "space, or starts like a field line",
    )
    _optional(m.uri, isinstance(m.uri, str) and grammar.is_uri(m.uri), f"bad uri {m.uri!r}")
    _optional(m.version, m.version == "1", f"version must be '1', not {m.version!r}")
    _optional(m.chain_id, isinstance(m.chain_id, str) and m.chain_id in CHAIN_IDS, "bad chain id")
    _optional(m.nonce, grammar.is_text(m.nonce, grammar.NONCE), f"bad nonce {m.nonce!r}")
    for name in ("issued_at", "expiration_time", "not_before"):
        grammar.check_time(name, getattr(m, name), optional=True)
    _optional(
        m.request_id, grammar.is_text(m.request_id, grammar.REQUEST_ID), "request id is not pchars"
    )
    grammar.check_resources(m.resources)


def parse(text: str) -> SiwsMessage:
    """Parse SIWS text (no trailing newline; fields in the order of the specification).

    Raises:
        MalformedMessage: the text breaks the grammar.
        InvalidAddress: the address is not a base58 32-byte public key.
    """
    grammar.check(isinstance(text, str), "message must be text")
    lines = text.split("\n")
    grammar.check(lines[0].endswith(HEADER), f"line 1 must end with {HEADER.strip()!r}")
    grammar.check(len(lines) >= 2, "line 2 must be the address")
    scheme, separator, domain = lines[0][: -len(HEADER)].rpartition("://")
    values: dict[str, Any] = {"scheme": scheme if separator else None, "domain": domain}
    values["address"] = lines[1]
    rest = lines[2:]
    if rest:
        grammar.check(rest[:1] == [""] and rest[1:2] not in ([], [""]), "expected one blank line")
        rest = rest[1:]
        if not rest[0].startswith(_FIELD_STARTS):
            values["statement"] = rest[0]
            rest = rest[1:]
            if rest:
                grammar.check(rest[:1] == [""] and len(rest) > 1, "expected fields after a blank")
                rest = rest[1:]
        grammar.read_optional_lines(rest, 0, _FIELD_LINES, values)
    return SiwsMessage(**values)


def signature_bytes(signature: str | bytes) -> bytes:
    """Decode a 64-byte ed25519 signature.

    Accepted: raw bytes; or a string of 128 hex digits (``0x`` optional), else base58 (what
    Solana tools print), else padded base64 (standard or URL-safe alphabet). The three cannot be
    confused: base58 has no ``0`` nor ``=``, and base64 of 64 bytes always ends with ``==``.

    Raises:
        InvalidSignature: the value does not decode to exactly 64 bytes.
    """
    if isinstance(signature, bytes | bytearray | memoryview):
        raw = bytes(signature)
    elif not isinstance(signature, str):
        raise InvalidSignature("signature must be bytes or a string")
    elif match := _HEX_SIGNATURE.fullmatch(signature):
        raw = bytes.fromhex(match.group(1))
    elif _BASE58.fullmatch(signature):
        raw = base58.b58decode(signature)
    else:
        try:
            raw = base64.b64decode(signature.replace("-", "+").replace("_", "/"), validate=True)
        except binascii.Error as exc:
            raise InvalidSignature("signature is neither hex, base58 nor base64") from exc
    if len(raw) != 64:
        raise InvalidSignature(f"signature is {len(raw)} bytes; an ed25519 signature has 64")
    return raw


def _check_times(
    message: SiwsMessage, now: datetime, max_age: timedelta | None, skew: timedelta
) -> None:
    issued = message.issued_at_dt
    if issued is None and max_age is not None:
        raise MalformedMessage("message has no Issued At, so its age cannot be checked")
    if issued is not None and issued > now + skew:
        raise NotYetValid(f"message claims to be issued at {message.issued_at}, in the future")
    if issued is not None and max_age is not None and now - issued > max_age:
        raise Expired(f"message was issued at {message.issued_at}, more than {max_age} ago")
    expires, not_before = message.expiration_time_dt, message.not_before_dt
    if expires is not None and now >= expires:
        raise Expired(f"message expired at {message.expiration_time}")
    if not_before is not None and now < not_before:
        raise NotYetValid(f"message is not valid before {message.not_before}")


def verify(
    text: str,
    signature: str | bytes,
    *,
    address: str,
    domain: str | None = None,
    nonce: str | None = None,
    now: datetime | None = None,
    max_age: timedelta | None = DEFAULT_MAX_AGE,
    chain_id: str | None = None,
    clock_skew: timedelta = CLOCK_SKEW,
) -> SiwsMessage:
    """Verify a signed SIWS message and return it.

    Checks, in order: the grammar; the message's address is ``address``; ``domain``, ``nonce``
    (constant-time) and ``chain_id`` when given; issued-at no more than ``clock_skew`` in the
    future and (unless ``max_age`` is None) no older than ``max_age``, which makes Issued At
    required; expiration and not-before; then the ed25519 signature over the UTF-8 bytes of
    ``text`` (libsodium, through PyNaCl).

    Args:
        text: the exact message text the wallet signed.
        signature: 64 bytes, raw or as hex / base58 / base64 text (see `signature_bytes`).
        address: the base58 public key the caller expects to sign in.
        domain: the expected domain (RFC 3986 authority), compared exactly.
        nonce: the nonce the server issued for this sign-in.
        now: an aware datetime to check times against (default: the current UTC time).
        max_age: the oldest acceptable Issued At, relative to ``now``.
        chain_id: the expected chain, e.g. ``"solana:mainnet"``.
        clock_skew: how far in the future Issued At may be, for clients with fast clocks.

    Raises:
        VerificationError: a subclass naming the first check that failed.
    """
    message = parse(text)
    key = public_key(address)
    if not hmac.compare_digest(public_key(message.address), key):
        raise AddressMismatch(f"message is signed in as {message.address}, expected {address}")
    if domain is not None and message.domain != domain:
        raise DomainMismatch(f"message is for domain {message.domain!r}, expected {domain!r}")
    if nonce is not None and not hmac.compare_digest(
        (message.nonce or "").encode(), nonce.encode()
    ):
        raise NonceMismatch("message nonce is missing or not the expected nonce")
    if chain_id is not None and message.chain_id != chain_id:
        raise ChainMismatch(f"message is for chain {message.chain_id!r}, expected {chain_id!r}")
    moment = clock.utcnow() if now is None else now
    if moment.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    _check_times(message, moment, max_age, clock_skew)
    raw = signature_bytes(signature)
    try:
        VerifyKey(key).verify(text.encode(), raw)
    except BadSignatureError as exc:
        raise InvalidSignature(f"signature is not {address}'s signature of this message") from exc
    return message
