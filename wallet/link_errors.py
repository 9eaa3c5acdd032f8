"""The refusals of wallet linking, beside the sign-in verifiers' own error tree.

`LinkError` covers refusals other than the signature check (tokens, families, ownership);
nonce and message refusals extend `wallet.errors.VerificationError`, since they are part of
checking what was signed. Each has a stable `code` a web layer can return.
"""

from __future__ import annotations

from typing import ClassVar

from wallet.errors import NonceMismatch, VerificationError


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
