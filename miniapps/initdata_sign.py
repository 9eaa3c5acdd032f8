"""Sign Mini App ``initData`` the way Telegram does, for the local sandbox and for tests.

The sandbox plays Telegram: it launches Mini Apps with initData that the real verifiers in
``miniapps.auth`` accept unchanged. Only the sandbox may hold the Ed25519 private key; production
initData is always signed by Telegram itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.clock import utcnow
from miniapps.auth import data_check_string, secret_key, third_party_check_string


def encode_json(value: Mapping[str, Any]) -> str:
    """Compact JSON as Telegram emits it: raw UTF-8, and ``/`` escaped as ``\\/``.

    Escaping every ``/`` is safe: ``/`` occurs only inside JSON strings, where ``\\/`` decodes
    back to ``/``.
    """
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).replace("/", "\\/")


def bot_id_from_token(bot_token: str) -> int:
    """The numeric bot id that prefixes a token such as ``123456:ABC...``."""
    head, sep, _ = bot_token.partition(":")
    if not sep or not head.isascii() or not head.isdigit():
        raise ValueError("bot token does not start with a numeric bot id")
    return int(head)


def sign_init_data(
    fields: Mapping[str, str | int | Mapping[str, Any]],
    *,
    bot_token: str,
    ed25519_private_key: bytes | None = None,
    bot_id: int | None = None,
    now: datetime | None = None,
) -> str:
    """Build a signed initData query string.

    Args:
        fields: launch fields; mappings (``user``, ``chat``, ``receiver``) are JSON-encoded like
            Telegram does, integers are written in decimal. ``auth_date`` defaults to ``now``.
        bot_token: the token whose HMAC produces ``hash``.
        ed25519_private_key: 32-byte seed; when given, a third-party ``signature`` is added.
        bot_id: bot id in the signed string; defaults to the token's numeric prefix.
        now: time used when ``fields`` has no ``auth_date``.

    Returns:
        The query string, fields in the given order, then ``signature``, then ``hash``.
    """
    if not bot_token:
        raise ValueError("bot_token is empty")
    encoded: dict[str, str] = {}
    for key, value in fields.items():
        if key in ("hash", "signature"):
            raise ValueError(f"{key} is computed by the signer, not passed in")
        encoded[key] = _encode_value(key, value)
    if "auth_date" not in encoded:
        encoded["auth_date"] = str(int((utcnow() if now is None else now).timestamp()))
    if ed25519_private_key is not None:
        # The signature goes in before the hash: Telegram's HMAC covers the signature field.
        signer = Ed25519PrivateKey.from_private_bytes(ed25519_private_key)
        message = third_party_check_string(
            encoded, bot_id_from_token(bot_token) if bot_id is None else bot_id
        )
        raw = signer.sign(message.encode())
        encoded["signature"] = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    digest = hmac.new(secret_key(bot_token), data_check_string(encoded).encode(), hashlib.sha256)
    encoded["hash"] = digest.hexdigest()
    return urlencode(encoded, quote_via=quote, safe="")


def _encode_value(key: str, value: object) -> str:
    if isinstance(value, Mapping):
        return encode_json(value)
    if isinstance(value, bool):
        raise TypeError(f"{key}: booleans have no initData encoding")
    if isinstance(value, int | str):
        return str(value)
    raise TypeError(f"{key}: expected str, int or mapping, got {type(value).__name__}")
