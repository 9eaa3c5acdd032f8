"""Verify Telegram Mini App ``initData``: the bot-token HMAC and Telegram's Ed25519 signature.

Pure logic: no web framework here; the FastAPI dependency wraps these functions and answers 401
with ``InitDataError.reason``. Both checks run over the raw decoded values exactly as received,
because Telegram signs its own JSON (``photo_url`` keeps its escaped slashes ``\\/``) and any
re-serialisation would change the bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from core.clock import from_timestamp, utcnow

TELEGRAM_PUBLIC_KEY = "e7bf03a2fa4602af4580703d88dda5bb59f32ed8b02a56c187fe7d34caed242d"
TELEGRAM_TEST_PUBLIC_KEY = "40055058a4ee38156a06562e52eece92a771bcd8346a8c4615cb7376eddf72ec"

# Telegram's clock and ours may disagree a little; beyond this, a future auth_date is forged
# or replayed from a broken client.
MAX_FUTURE_SKEW = timedelta(seconds=60)
# Real initData has about ten fields; a cap keeps hostile input from costing much to parse.
MAX_FIELDS = 64
# Ten digits reach the year 2286 and keep datetime conversion from overflowing.
_DIGITS = re.compile(r"[0-9]{1,10}")


class InitDataError(Exception):
    """initData was rejected; ``reason`` is a short machine code the API returns with 401."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class WebAppUser:
    """The ``user`` (or ``receiver``) object of initData."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_premium: bool | None = None
    is_bot: bool | None = None
    allows_write_to_pm: bool | None = None
    photo_url: str | None = None


# Expected JSON types of the optional user fields; unknown fields Telegram adds later are ignored.
_USER_OPTIONAL: dict[str, type] = {
    "last_name": str,
    "username": str,
    "language_code": str,
    "is_premium": bool,
    "is_bot": bool,
    "allows_write_to_pm": bool,
    "photo_url": str,
}


@dataclass(frozen=True)
class WebAppInitData:
    """Verified launch parameters of a Mini App (https://core.telegram.org/bots/webapps)."""

    fields: Mapping[str, str]
    auth_date: datetime
    hash: str | None = None
    signature: str | None = None
    user: WebAppUser | None = None
    receiver: WebAppUser | None = None
    chat: Mapping[str, Any] | None = None
    chat_type: str | None = None
    chat_instance: str | None = None
    start_param: str | None = None
    query_id: str | None = None
    can_send_after: int | None = None


def parse_fields(init_data: str) -> dict[str, str]:
    """Split a query string into fields, refusing anything Telegram would never send.

    Duplicate keys are refused because the two checks and the parser could each pick a different
    copy. Newlines in values and ``=`` or newlines in keys are refused because the check string
    joins ``key=value`` lines with ``\\n``: such fields could re-partition a genuinely signed
    string into different fields that still verify.
    """
    try:
        pairs = parse_qsl(
            init_data,
            strict_parsing=True,
            keep_blank_values=True,
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except ValueError as exc:  # UnicodeDecodeError is a ValueError too
        raise InitDataError("malformed", f"initData is not a valid query string: {exc}") from exc
    fields: dict[str, str] = {}
    for key, value in pairs:
        if not key or "=" in key or "\n" in key or "\n" in value:
            raise InitDataError("malformed", f"initData has an invalid field {key!r}")
        if key in fields:
            raise InitDataError("malformed", f"initData repeats the field {key!r}")
        fields[key] = value
    return fields


def data_check_string(fields: Mapping[str, str]) -> str:
    """The string the bot-token HMAC covers: every field but ``hash``, ``signature`` included."""
    return "\n".join(f"{k}={v}" for k, v in sorted(fields.items()) if k != "hash")


def third_party_check_string(fields: Mapping[str, str], bot_id: int) -> str:
    """The string Telegram's Ed25519 signature covers: bot id, then fields minus hash/signature."""
    lines = (f"{k}={v}" for k, v in sorted(fields.items()) if k not in ("hash", "signature"))
    return f"{bot_id}:WebAppData\n" + "\n".join(lines)


def secret_key(bot_token: str) -> bytes:
    """HMAC key derived from the bot token, as Telegram defines it."""
    return hmac.digest(b"WebAppData", bot_token.encode(), hashlib.sha256)


def verify_init_data(
    init_data: str,
    *,
    bot_token: str,
    max_age: int | timedelta | None = 3600,
    now: datetime | None = None,
) -> WebAppInitData:
    """Check the bot-token HMAC and the age of ``initData``; return the parsed launch data.

    ``max_age=None`` skips the age checks (only for replaying recorded fixtures).
    """
    if not bot_token:
        raise ValueError("bot_token is empty")
    fields = parse_fields(init_data)
    received = fields.get("hash")
    if received is None:
        raise InitDataError("missing_hash", "initData has no hash field")
    expected = hmac.new(secret_key(bot_token), data_check_string(fields).encode(), hashlib.sha256)
    if not hmac.compare_digest(expected.hexdigest().encode(), received.encode()):
        raise InitDataError("bad_hash", "initData hash does not match this bot's token")
    return _checked(fields, max_age, now)


def verify_init_data_signature(
    init_data: str,
    *,
    bot_id: int,
    public_key: str | bytes = TELEGRAM_PUBLIC_KEY,
    max_age: int | timedelta | None = None,
    now: datetime | None = None,
) -> WebAppInitData:
    """Check Telegram's Ed25519 ``signature`` (no bot token needed) and, optionally, the age.

    ``public_key`` is 32 raw bytes or their hex; use ``TELEGRAM_TEST_PUBLIC_KEY`` for bots of
    Telegram's test environment.
    """
    key = Ed25519PublicKey.from_public_bytes(
        bytes.fromhex(public_key) if isinstance(public_key, str) else public_key
    )
    fields = parse_fields(init_data)
    encoded = fields.get("signature")
    if not encoded:
        raise InitDataError("missing_signature", "initData has no signature field")
    try:
        key.verify(_b64url_decode(encoded), third_party_check_string(fields, bot_id).encode())
    except InvalidSignature as exc:
        raise InitDataError("bad_signature", "initData signature is not Telegram's") from exc
    return _checked(fields, max_age, now)


def _b64url_decode(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]+", text):
        raise InitDataError("bad_signature", "initData signature is not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise InitDataError("bad_signature", "initData signature is not base64url") from exc


def _checked(
    fields: dict[str, str], max_age: int | timedelta | None, now: datetime | None
) -> WebAppInitData:
    """Age checks and typed parsing; runs only on authenticated fields."""
    raw_date = fields.get("auth_date")
    if raw_date is None or not _DIGITS.fullmatch(raw_date):
        raise InitDataError("malformed", "initData auth_date is missing or not a Unix time")
    auth_date = from_timestamp(int(raw_date))
    if max_age is not None:
        limit = max_age if isinstance(max_age, timedelta) else timedelta(seconds=max_age)
        if limit < timedelta(0):
            raise ValueError("max_age must not be negative")
        current = utcnow() if now is None else now
        if current.utcoffset() is None:
            raise ValueError("now must be timezone-aware")
        if auth_date - current > MAX_FUTURE_SKEW:
            raise InitDataError("future", "initData auth_date is in the future")
        if current - auth_date > limit:
            raise InitDataError("expired", "initData is older than the allowed age")
    return WebAppInitData(
        fields=MappingProxyType(dict(fields)),
        auth_date=auth_date,
        hash=fields.get("hash"),
        signature=fields.get("signature"),
        user=_user(fields, "user"),
        receiver=_user(fields, "receiver"),
        chat=_json_object(fields, "chat"),
        chat_type=fields.get("chat_type"),
        chat_instance=fields.get("chat_instance"),
        start_param=fields.get("start_param"),
        query_id=fields.get("query_id"),
        can_send_after=_optional_int(fields, "can_send_after"),
    )


def _json_object(fields: Mapping[str, str], name: str) -> dict[str, Any] | None:
    if name not in fields:
        return None
    try:
        value = json.loads(fields[name])
    except ValueError as exc:
        raise InitDataError("malformed", f"initData {name} is not JSON") from exc
    if not isinstance(value, dict):
        raise InitDataError("malformed", f"initData {name} is not a JSON object")
    return value


def _user(fields: Mapping[str, str], name: str) -> WebAppUser | None:
    data = _json_object(fields, name)
    if data is None:
        return None
    user_id, first_name = data.get("id"), data.get("first_name")
    # bool is an int in Python; a JSON true is not a user id.
    if not isinstance(user_id, int) or isinstance(user_id, bool) or not isinstance(first_name, str):
        raise InitDataError("malformed", f"initData {name} lacks an integer id or a first_name")
    optional: dict[str, Any] = {}
    for key, kind in _USER_OPTIONAL.items():
        value = data.get(key)
        if value is not None and not isinstance(value, kind):
            raise InitDataError("malformed", f"initData {name}.{key} is not a {kind.__name__}")
        optional[key] = value
    return WebAppUser(id=user_id, first_name=first_name, **optional)


def _optional_int(fields: Mapping[str, str], name: str) -> int | None:
    if name not in fields:
        return None
    if not _DIGITS.fullmatch(fields[name]):
        raise InitDataError("malformed", f"initData {name} is not a number")
    return int(fields[name])
