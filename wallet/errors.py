"""The one error tree of the wallet sign-in verifiers (SIWE and SIWS).

Every refusal is a subclass of `VerificationError`; its text names what failed, and `code` is a
stable short identifier that a web layer can return to clients without parsing the text.
"""

from __future__ import annotations

from typing import ClassVar


class VerificationError(Exception):
    """A sign-in message or its signature was refused."""

    code: ClassVar[str] = "verification_failed"


class MalformedMessage(VerificationError):
    """The message text (or a field given to build one) does not follow its grammar."""

    code: ClassVar[str] = "malformed_message"


class InvalidAddress(MalformedMessage):
    """An address is not well formed, e.g. a mixed-case EVM address with a bad EIP-55 checksum."""

    code: ClassVar[str] = "invalid_address"


class InvalidSignature(VerificationError):
    """The signature is malformed (not hex, wrong length, bad encoding) or not the signer's."""

    code: ClassVar[str] = "invalid_signature"


class Expired(VerificationError):
    """The message's expiration time has passed, or it was issued too long ago."""

    code: ClassVar[str] = "expired"


class NotYetValid(VerificationError):
    """The message's not-before time (or its issued-at time) is still in the future."""

    code: ClassVar[str] = "not_yet_valid"


class DomainMismatch(VerificationError):
    """The message was made for another domain than the expected one."""

    code: ClassVar[str] = "domain_mismatch"


class NonceMismatch(VerificationError):
    """The message's nonce is not the one the server issued."""

    code: ClassVar[str] = "nonce_mismatch"


class ChainMismatch(VerificationError):
    """The message names another chain than the expected one."""

    code: ClassVar[str] = "chain_mismatch"


class AddressMismatch(VerificationError):
    """The message's address is not the account the caller expected."""

    code: ClassVar[str] = "address_mismatch"


__all__ = [
    "AddressMismatch",
    "ChainMismatch",
    "DomainMismatch",
    "Expired",
    "InvalidAddress",
    "InvalidSignature",
    "MalformedMessage",
    "NonceMismatch",
    "NotYetValid",
    "VerificationError",
]
