"""Gateway-signed session tokens (EdDSA JWTs) for Mini Apps and builder apps.

After initData is verified, the gateway hands the page a short-lived token naming the member,
the app (``aud``) and the group (``chat``). A builder's backend checks it offline with the
public keys from ``jwks()``; it never needs to call the gateway or hold a secret.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from core.clock import from_timestamp, utcnow

DEFAULT_ISSUER = "townsquare"
ALGORITHM = "EdDSA"
_REQUIRED = ["iss", "sub", "aud", "iat", "nbf", "exp", "jti", "scope"]


class TokenError(Exception):
    """A session token was rejected; ``reason`` is a short machine code for the 401 answer."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class TokenClaims:
    """The verified contents of a session token."""

    issuer: str
    subject: str
    audience: str
    issued_at: datetime
    not_before: datetime
    expires_at: datetime
    token_id: str
    chat_id: int | None
    scopes: tuple[str, ...]
    key_id: str

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenIssuer:
    """Signs tokens with one current key; verifies with it and any still-trusted previous keys."""

    def __init__(
        self,
        signing_key: Ed25519PrivateKey,
        kid: str,
        *,
        issuer: str = DEFAULT_ISSUER,
        previous_keys: Mapping[str, Ed25519PublicKey | bytes] | None = None,
    ) -> None:
        if not kid or not issuer:
            raise ValueError("kid and issuer must not be empty")
        previous = {
            k: Ed25519PublicKey.from_public_bytes(v) if isinstance(v, bytes) else v
            for k, v in (previous_keys or {}).items()
        }
        if kid in previous:
            raise ValueError(f"kid {kid!r} is both current and previous")
        self._signing_key = signing_key
        self._kid = kid
        self._issuer = issuer
        # Current key first, so jwks() lists the signing key before the ones being phased out.
        self._public_keys = {kid: signing_key.public_key(), **previous}

    @classmethod
    def from_seed(
        cls,
        seed: bytes,
        kid: str,
        *,
        issuer: str = DEFAULT_ISSUER,
        previous_keys: Mapping[str, Ed25519PublicKey | bytes] | None = None,
    ) -> TokenIssuer:
        """Issuer from a 32-byte Ed25519 seed (for example read from a secret setting)."""
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed is exactly 32 bytes")
        key = Ed25519PrivateKey.from_private_bytes(seed)
        return cls(key, kid, issuer=issuer, previous_keys=previous_keys)

    @classmethod
    def from_pem(
        cls,
        pem: bytes,
        kid: str,
        *,
        password: bytes | None = None,
        issuer: str = DEFAULT_ISSUER,
        previous_keys: Mapping[str, Ed25519PublicKey | bytes] | None = None,
    ) -> TokenIssuer:
        """Issuer from a PKCS#8 PEM private key (``openssl genpkey -algorithm ed25519``)."""
        key = serialization.load_pem_private_key(pem, password=password)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the PEM does not hold an Ed25519 private key")
        return cls(key, kid, issuer=issuer, previous_keys=previous_keys)

    @property
    def kid(self) -> str:
        return self._kid

    @property
    def issuer(self) -> str:
        return self._issuer

    def rotate(self, seed: bytes, kid: str) -> TokenIssuer:
        """A new issuer signing with ``seed``; every key trusted here keeps verifying."""
        previous = dict(self._public_keys)
        return TokenIssuer.from_seed(seed, kid, issuer=self._issuer, previous_keys=previous)

    def retire(self, kid: str) -> TokenIssuer:
        """A copy that no longer trusts the previous key ``kid``."""
        if kid == self._kid:
            raise ValueError("the current signing key cannot be retired")
        previous = {k: v for k, v in self._public_keys.items() if k not in (kid, self._kid)}
        return TokenIssuer(
            self._signing_key, self._kid, issuer=self._issuer, previous_keys=previous
        )

    def issue(
        self,
        *,
        subject: str,
        audience: str,
        chat_id: int | None,
        scopes: Sequence[str],
        ttl: int = 900,
        now: datetime | None = None,
    ) -> str:
        """Sign a token for member ``subject`` and app ``audience`` valid for ``ttl`` seconds."""
        if not subject or not audience:
            raise ValueError("subject and audience must not be empty")
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        if any(not scope or scope.split() != [scope] for scope in scopes):
            raise ValueError("scopes must be non-empty and contain no whitespace")
        issued = int((utcnow() if now is None else now).timestamp())
        payload: dict[str, Any] = {
            "iss": self._issuer,
            "sub": subject,
            "aud": audience,
            "iat": issued,
            "nbf": issued,
            "exp": issued + ttl,
            "jti": secrets.token_urlsafe(16),
            "scope": " ".join(scopes),
        }
        if chat_id is not None:
            payload["chat"] = chat_id
        import jwt  # PyJWT loads on first use, not at the gateway's start-up

        return jwt.encode(
            payload, self._signing_key, algorithm=ALGORITHM, headers={"kid": self._kid}
        )

    def verify(
        self,
        token: str,
        *,
        audience: str,
        chat_id: int | None = None,
        now: datetime | None = None,
        leeway: int = 0,
    ) -> TokenClaims:
        """Check signature, issuer, audience and validity window; return the typed claims.

        With ``chat_id``, the token must also name that group (a token from one group's Mini App
        must not act in another).
        """
        import jwt

        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.InvalidTokenError as exc:
            raise TokenError("malformed", f"token header is unreadable: {exc}") from exc
        if not isinstance(kid, str) or kid not in self._public_keys:
            raise TokenError("unknown_key", f"token key id {kid!r} is not trusted")
        payload = _decode(token, self._public_keys[kid], audience=audience, issuer=self._issuer)
        claims = _typed(payload, kid)
        current = int((utcnow() if now is None else now).timestamp())
        if current >= payload["exp"] + leeway:
            raise TokenError("expired", "token has expired")
        if current < max(payload["nbf"], payload["iat"]) - leeway:
            raise TokenError("not_yet_valid", "token is not valid yet")
        if chat_id is not None and claims.chat_id != chat_id:
            raise TokenError("wrong_chat", "token is for another group")
        return claims

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """Public keys as a JWKS document (RFC 8037 OKP keys) for offline verification."""
        return {
            "keys": [
                {
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": _b64url(_raw_public(key)),
                    "kid": kid,
                    "use": "sig",
                    "alg": ALGORITHM,
                }
                for kid, key in self._public_keys.items()
            ]
        }


def _decode(token: str, key: Ed25519PublicKey, *, audience: str, issuer: str) -> dict[str, Any]:
    # Time claims are checked by the caller against an injectable clock, so PyJWT skips them.
    options: Any = {
        "verify_exp": False,
        "verify_nbf": False,
        "verify_iat": False,
        "strict_aud": True,
        "require": _REQUIRED,
    }
    import jwt

    try:
        return jwt.decode(
            token, key, algorithms=[ALGORITHM], audience=audience, issuer=issuer, options=options
        )
    except (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError) as exc:
        raise TokenError("bad_signature", f"token signature is invalid: {exc}") from exc
    except jwt.InvalidAudienceError as exc:
        raise TokenError("wrong_audience", f"token is for another audience: {exc}") from exc
    except jwt.InvalidIssuerError as exc:
        raise TokenError("wrong_issuer", f"token has another issuer: {exc}") from exc
    except jwt.InvalidTokenError as exc:
        raise TokenError("malformed", f"token is malformed: {exc}") from exc


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _typed(payload: dict[str, Any], kid: str) -> TokenClaims:
    chat = payload.get("chat")
    if not all(_is_int(payload[name]) for name in ("iat", "nbf", "exp")):
        raise TokenError("malformed", "token time claims must be integers")
    if chat is not None and not _is_int(chat):
        raise TokenError("malformed", "token chat claim must be an integer")
    if not isinstance(payload["scope"], str):
        raise TokenError("malformed", "token scope claim must be a string")
    return TokenClaims(
        issuer=payload["iss"],
        subject=payload["sub"],
        audience=payload["aud"],
        issued_at=from_timestamp(payload["iat"]),
        not_before=from_timestamp(payload["nbf"]),
        expires_at=from_timestamp(payload["exp"]),
        token_id=payload["jti"],
        chat_id=chat,
        scopes=tuple(payload["scope"].split()),
        key_id=kid,
    )
