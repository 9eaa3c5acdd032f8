"""initData verification (HMAC and Ed25519) and the sandbox signer that plays Telegram."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, quote, urlencode

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from miniapps.auth import (
    TELEGRAM_PUBLIC_KEY,
    TELEGRAM_TEST_PUBLIC_KEY,
    InitDataError,
    verify_init_data,
    verify_init_data_signature,
)
from miniapps.initdata_sign import bot_id_from_token, encode_json, sign_init_data

# /work/shared/vectors/README.md: valid with 42:TEST, invalid with 42:INVALID.
VECTOR = (
    "auth_date=1650385342&user=%7B%22id%22%3A42%2C%22first_name%22%3A%22Test%22%7D"
    "&query_id=test&hash=46d2ea5e32911ec8d30999b56247654460c0d20949b6277af519e76271182803"
)
Fields = dict[str, str | int | dict[str, object]]
VECTOR_FIELDS: Fields = {
    "auth_date": "1650385342",
    "user": {"id": 42, "first_name": "Test"},
    "query_id": "test",
}
AUTH_DATE = datetime(2022, 4, 19, 16, 22, 22, tzinfo=UTC)
NOW = AUTH_DATE + timedelta(minutes=5)

# aiogram's Ed25519 test vector (tests/test_utils/test_web_app_signature.py, MIT): an
# implementation we do not own, with a key pair published for tests.
AIOGRAM_SEED = bytes.fromhex("c80e09dc60f5efcf2e1f8d0793358e0ea3371267bef0024588f7bf67cf48dfb9")
AIOGRAM_PUBLIC = bytes.fromhex("4112765021341e5415e772cd65903f6b94e3ea1c2ab669e6d3e18ee2db00da61")
AIOGRAM_SIGNATURE = (
    "JQ0JR2tjC65yq_jNZV0wuJVX6J-SWPMV0mprUXG34g-NvxL4RcF1Rz5n4VVo00VRghEUBf5t___uoeb1-jU_Cw"
)
AIOGRAM_SIGNED = VECTOR.partition("&hash=")[0] + f"&hash=123&signature={AIOGRAM_SIGNATURE}"


def telegram_hash(lines: list[str], bot_token: str) -> str:
    """The spec's HMAC, written out independently of miniapps.auth."""
    secret = hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()
    return hmac.new(secret, "\n".join(sorted(lines)).encode(), hashlib.sha256).hexdigest()


def query(pairs: list[tuple[str, str]]) -> str:
    return urlencode(pairs, quote_via=quote, safe="")


def reason_of(call: Callable[[], object]) -> str:
    with pytest.raises(InitDataError) as info:
        call()
    return info.value.reason


# --- the HMAC check ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bot_token", "valid"), [("42:TEST", True), ("42:INVALID", False), ("43:TEST", False)]
)
def test_public_vector(bot_token: str, valid: bool) -> None:
    def check() -> object:
        return verify_init_data(VECTOR, bot_token=bot_token, now=NOW)

    if not valid:
        assert reason_of(check) == "bad_hash"
        return
    data = verify_init_data(VECTOR, bot_token=bot_token, now=NOW)
    assert data.user is not None
    assert (data.user.id, data.user.first_name, data.query_id) == (42, "Test", "test")
    assert data.auth_date == AUTH_DATE
    assert data.fields["user"] == '{"id":42,"first_name":"Test"}'


def _replace(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new)


REJECTIONS: list[tuple[str, str, str]] = [
    ("forged user id", _replace(VECTOR, "%3A42%2C", "%3A43%2C"), "bad_hash"),
    ("forged query id", _replace(VECTOR, "query_id=test", "query_id=tesT"), "bad_hash"),
    ("field dropped", _replace(VECTOR, "&query_id=test", ""), "bad_hash"),
    ("field added", VECTOR + "&start_param=x", "bad_hash"),
    ("truncated hash", VECTOR[:-1], "bad_hash"),
    ("uppercase hash", VECTOR[:-64] + VECTOR[-64:].upper(), "bad_hash"),
    ("empty hash", VECTOR[:-64], "bad_hash"),
    ("truncated mid-field", VECTOR[:40], "missing_hash"),
    ("missing hash", VECTOR.partition("&hash=")[0], "missing_hash"),
    ("empty", "", "missing_hash"),
    ("duplicate key", VECTOR + "&query_id=test", "malformed"),
    ("duplicate hash", VECTOR + "&hash=" + VECTOR[-64:], "malformed"),
    ("bare word", "test&foo=bar=baz", "malformed"),
    ("empty field", VECTOR.replace("&query_id", "&&query_id"), "malformed"),
    ("empty key", "=1&" + VECTOR, "malformed"),
    ("invalid utf-8", VECTOR.replace("Test", "T%FFst"), "malformed"),
    ("too many fields", "&".join(f"k{i}=v" for i in range(100)) + "&hash=0", "malformed"),
]


@pytest.mark.parametrize(
    ("init_data", "reason"), [r[1:] for r in REJECTIONS], ids=[r[0] for r in REJECTIONS]
)
def test_rejections(init_data: str, reason: str) -> None:
    assert reason_of(lambda: verify_init_data(init_data, bot_token="42:TEST", now=NOW)) == reason


def test_other_bot_signs_valid_looking_data() -> None:
    other = sign_init_data(VECTOR_FIELDS, bot_token="43:OTHER")
    assert verify_init_data(other, bot_token="43:OTHER", now=NOW).user is not None
    assert reason_of(lambda: verify_init_data(other, bot_token="42:TEST", now=NOW)) == "bad_hash"


def test_photo_url_with_escaped_slashes_is_checked_as_received() -> None:
    user = r'{"id":7,"first_name":"Ann","photo_url":"https:\/\/t.me\/i\/userpic\/320\/a.svg"}'
    lines = ["auth_date=1650385342", f"user={user}"]
    signed = query([("user", user), ("auth_date", "1650385342")])
    good = f"{signed}&hash={telegram_hash(lines, '42:TEST')}"
    data = verify_init_data(good, bot_token="42:TEST", now=NOW)
    assert data.user is not None
    assert data.user.photo_url == "https://t.me/i/userpic/320/a.svg"
    assert data.fields["user"] == user
    # A verifier that re-serialised the JSON would check this string instead; it must not pass.
    reserialised = json.dumps(json.loads(user), separators=(",", ":"))
    wrong = telegram_hash(["auth_date=1650385342", f"user={reserialised}"], "42:TEST")
    with pytest.raises(InitDataError, match="hash"):
        verify_init_data(f"{signed}&hash={wrong}", bot_token="42:TEST", now=NOW)


@pytest.mark.parametrize(("hmac_covers_signature", "valid"), [(True, True), (False, False)])
def test_hmac_keeps_the_signature_field(hmac_covers_signature: bool, valid: bool) -> None:
    base = ["auth_date=1650385342", "query_id=test"]
    lines = [*base, "signature=c2ln"] if hmac_covers_signature else base
    init_data = (
        f"auth_date=1650385342&query_id=test&signature=c2ln&hash={telegram_hash(lines, '42:TEST')}"
    )
    if valid:
        assert verify_init_data(init_data, bot_token="42:TEST", now=NOW).signature == "c2ln"
    else:
        assert (
            reason_of(lambda: verify_init_data(init_data, bot_token="42:TEST", now=NOW))
            == "bad_hash"
        )


def test_signed_lines_cannot_be_repartitioned() -> None:
    # "query_id=test\nuser={...}" as one value yields the very same check string.
    user = '{"id":42,"first_name":"Test"}'
    lines = ["auth_date=1650385342", "query_id=test", f"user={user}"]
    merged = query([("auth_date", "1650385342"), ("query_id", f"test\nuser={user}")])
    init_data = f"{merged}&hash={telegram_hash(lines, '42:TEST')}"
    assert (
        reason_of(lambda: verify_init_data(init_data, bot_token="42:TEST", now=NOW)) == "malformed"
    )


# --- age ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "max_age", "reason"),
    [
        (timedelta(seconds=3600), 3600, None),
        (timedelta(seconds=3601), 3600, "expired"),
        (timedelta(days=400), 3600, "expired"),
        (timedelta(seconds=59), timedelta(seconds=60), None),
        (timedelta(seconds=61), timedelta(seconds=60), "expired"),
        (timedelta(0), 0, None),
        (timedelta(seconds=-60), 3600, None),
        (timedelta(seconds=-61), 3600, "future"),
        (timedelta(days=-1), 3600, "future"),
        (timedelta(days=4000), None, None),
    ],
)
def test_age(offset: timedelta, max_age: int | timedelta | None, reason: str | None) -> None:
    def check() -> object:
        return verify_init_data(
            VECTOR, bot_token="42:TEST", max_age=max_age, now=AUTH_DATE + offset
        )

    if reason is None:
        assert check() is not None
    else:
        assert reason_of(check) == reason


def test_default_clock_finds_the_2022_vector_stale() -> None:
    assert reason_of(lambda: verify_init_data(VECTOR, bot_token="42:TEST")) == "expired"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bot_token": "", "now": NOW}, "bot_token"),
        ({"bot_token": "42:TEST", "now": NOW.replace(tzinfo=None)}, "timezone"),
        ({"bot_token": "42:TEST", "now": NOW, "max_age": -1}, "negative"),
    ],
)
def test_programming_errors_are_not_401s(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        verify_init_data(VECTOR, **kwargs)  # type: ignore[arg-type]


# --- signed but ill-typed fields ----------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"auth_date": "yesterday"},
        {"auth_date": "+1650385342"},
        {"auth_date": "99999999999999"},
        {"auth_date": "1650385342", "user": "not json"},
        {"auth_date": "1650385342", "user": "[1,2]"},
        {"auth_date": "1650385342", "user": {"id": True, "first_name": "A"}},
        {"auth_date": "1650385342", "user": {"id": "42", "first_name": "A"}},
        {"auth_date": "1650385342", "user": {"id": 42}},
        {"auth_date": "1650385342", "user": {"id": 42, "first_name": "A", "is_premium": 1}},
        {"auth_date": "1650385342", "receiver": {"first_name": "Bot"}},
        {"auth_date": "1650385342", "chat": "[]"},
        {"auth_date": "1650385342", "can_send_after": "soon"},
        {"auth_date": "1650385342", "start_param": "a\nb"},
    ],
)
def test_signed_but_malformed(fields: dict[str, object]) -> None:
    init_data = sign_init_data(fields, bot_token="42:TEST")  # type: ignore[arg-type]
    assert (
        reason_of(lambda: verify_init_data(init_data, bot_token="42:TEST", now=NOW)) == "malformed"
    )


def test_signed_without_auth_date_is_malformed() -> None:
    init_data = f"query_id=test&hash={telegram_hash(['query_id=test'], '42:TEST')}"
    assert (
        reason_of(lambda: verify_init_data(init_data, bot_token="42:TEST", now=NOW)) == "malformed"
    )


def test_all_documented_fields_are_parsed() -> None:
    fields: Fields = {
        "query_id": "AAH",
        "user": {
            "id": 1,
            "first_name": "A",
            "last_name": "B",
            "username": "ab",
            "is_premium": True,
        },
        "receiver": {"id": 2, "first_name": "Bot", "is_bot": True},
        "chat": {"id": -100, "type": "supergroup", "title": "Square"},
        "chat_type": "supergroup",
        "chat_instance": "-547",
        "start_param": "claim_7",
        "can_send_after": 10,
        "auth_date": 1650385342,
    }
    data = verify_init_data(
        sign_init_data(fields, bot_token="42:TEST"), bot_token="42:TEST", now=NOW
    )
    assert data.user is not None and data.receiver is not None
    assert (data.user.last_name, data.user.username, data.user.is_premium) == ("B", "ab", True)
    assert (data.receiver.id, data.receiver.is_bot) == (2, True)
    assert data.chat == {"id": -100, "type": "supergroup", "title": "Square"}
    assert (data.chat_type, data.chat_instance, data.start_param) == (
        "supergroup",
        "-547",
        "claim_7",
    )
    assert (data.query_id, data.can_send_after, data.signature) == ("AAH", 10, None)


# --- Telegram's Ed25519 third-party signature ---------------------------------------------------


def test_aiogram_ed25519_vector() -> None:
    data = verify_init_data_signature(AIOGRAM_SIGNED, bot_id=42, public_key=AIOGRAM_PUBLIC)
    assert data.user is not None
    assert (data.user.id, data.query_id, data.hash) == (42, "test", "123")
    # The hex form of the key is accepted too.
    assert verify_init_data_signature(AIOGRAM_SIGNED, bot_id=42, public_key=AIOGRAM_PUBLIC.hex())


SIGNATURE_REJECTIONS: list[tuple[str, str, int, str | bytes, str]] = [
    ("other bot id", AIOGRAM_SIGNED, 43, AIOGRAM_PUBLIC, "bad_signature"),
    ("production key", AIOGRAM_SIGNED, 42, TELEGRAM_PUBLIC_KEY, "bad_signature"),
    ("test-environment key", AIOGRAM_SIGNED, 42, TELEGRAM_TEST_PUBLIC_KEY, "bad_signature"),
    (
        "forged field",
        AIOGRAM_SIGNED.replace("query_id=test", "query_id=x"),
        42,
        AIOGRAM_PUBLIC,
        "bad_signature",
    ),
    (
        "signature altered",
        AIOGRAM_SIGNED.replace("-jU_Cw", "-j1U_w"),
        42,
        AIOGRAM_PUBLIC,
        "bad_signature",
    ),
    ("signature truncated", AIOGRAM_SIGNED[:-4], 42, AIOGRAM_PUBLIC, "bad_signature"),
    (
        "signature not base64url",
        AIOGRAM_SIGNED.replace("-jU_Cw", "+jU/Cw"),
        42,
        AIOGRAM_PUBLIC,
        "bad_signature",
    ),
    ("no signature", VECTOR, 42, AIOGRAM_PUBLIC, "missing_signature"),
    (
        "empty signature",
        AIOGRAM_SIGNED.partition("&signature=")[0] + "&signature=",
        42,
        AIOGRAM_PUBLIC,
        "missing_signature",
    ),
    ("duplicate field", AIOGRAM_SIGNED + "&query_id=test", 42, AIOGRAM_PUBLIC, "malformed"),
]


@pytest.mark.parametrize(
    ("init_data", "bot_id", "key", "reason"),
    [r[1:] for r in SIGNATURE_REJECTIONS],
    ids=[r[0] for r in SIGNATURE_REJECTIONS],
)
def test_signature_rejections(init_data: str, bot_id: int, key: str | bytes, reason: str) -> None:
    def check() -> object:
        return verify_init_data_signature(init_data, bot_id=bot_id, public_key=key)

    assert reason_of(check) == reason


def test_signature_age_is_checked_only_when_asked() -> None:
    def check(max_age: int | None) -> object:
        return verify_init_data_signature(
            AIOGRAM_SIGNED, bot_id=42, public_key=AIOGRAM_PUBLIC, max_age=max_age, now=NOW
        )

    assert check(None) is not None
    assert check(3600) is not None
    assert reason_of(lambda: check(60)) == "expired"


def test_published_telegram_keys() -> None:
    assert bytes.fromhex(TELEGRAM_PUBLIC_KEY).hex() == (
        "e7bf03a2fa4602af4580703d88dda5bb59f32ed8b02a56c187fe7d34caed242d"
    )
    assert bytes.fromhex(TELEGRAM_TEST_PUBLIC_KEY).hex() == (
        "40055058a4ee38156a06562e52eece92a771bcd8346a8c4615cb7376eddf72ec"
    )


# --- the sandbox signer -------------------------------------------------------------------------


def test_signer_reproduces_the_public_vectors_byte_for_byte() -> None:
    assert sign_init_data(VECTOR_FIELDS, bot_token="42:TEST") == VECTOR
    signed = sign_init_data(VECTOR_FIELDS, bot_token="42:TEST", ed25519_private_key=AIOGRAM_SEED)
    pairs = parse_qsl(signed)
    assert [k for k, _ in pairs] == ["auth_date", "user", "query_id", "signature", "hash"]
    assert dict(pairs)["signature"] == AIOGRAM_SIGNATURE
    # The hash covers the signature: the spec's HMAC over all four other lines.
    lines = [f"{k}={v}" for k, v in pairs if k != "hash"]
    assert dict(pairs)["hash"] == telegram_hash(lines, "42:TEST")


def test_signer_encodes_json_like_telegram() -> None:
    user = {"id": 7, "first_name": "Zoë & co", "photo_url": "https://t.me/i/a.svg"}
    assert encode_json(user) == (
        r'{"id":7,"first_name":"Zoë & co","photo_url":"https:\/\/t.me\/i\/a.svg"}'
    )
    signed = sign_init_data({"user": user, "auth_date": 1}, bot_token="42:TEST")
    assert signed.startswith("user=%7B%22id%22%3A7%2C%22first_name%22%3A%22Zo%C3%AB%20%26%20co")
    assert "%5C%2F%5C%2Ft.me%5C%2Fi%5C%2Fa.svg" in signed


def test_round_trip_with_a_generated_key() -> None:
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    fields: Fields = {"user": {"id": 5, "first_name": "Eve"}, "chat_type": "group"}
    signed = sign_init_data(fields, bot_token="77:SANDBOX", ed25519_private_key=seed, now=NOW)
    assert verify_init_data(signed, bot_token="77:SANDBOX", now=NOW).auth_date == NOW.replace(
        microsecond=0
    )
    assert verify_init_data_signature(signed, bot_id=77, public_key=public, max_age=60, now=NOW)
    for bot_id, key in ((77, TELEGRAM_PUBLIC_KEY), (78, public)):
        with pytest.raises(InitDataError, match="signature"):
            verify_init_data_signature(signed, bot_id=bot_id, public_key=key)
    explicit = sign_init_data(fields, bot_token="x", ed25519_private_key=seed, bot_id=77, now=NOW)
    assert verify_init_data_signature(explicit, bot_id=77, public_key=public)


@pytest.mark.parametrize(
    ("fields", "kwargs", "error"),
    [
        ({"hash": "0"}, {}, ValueError),
        ({"signature": "0"}, {}, ValueError),
        ({"is_premium": True}, {}, TypeError),
        ({"user": [1]}, {}, TypeError),
        ({}, {"bot_token": ""}, ValueError),
        ({}, {"bot_token": "TOKEN", "ed25519_private_key": AIOGRAM_SEED}, ValueError),
    ],
)
def test_signer_refuses(
    fields: dict[str, object], kwargs: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        sign_init_data(fields, **{"bot_token": "42:TEST", **kwargs})  # type: ignore[arg-type]


@pytest.mark.parametrize(("token", "bot_id"), [("42:TEST", 42), ("123456789:AA-b_c", 123456789)])
def test_bot_id_from_token(token: str, bot_id: int) -> None:
    assert bot_id_from_token(token) == bot_id


# --- properties ---------------------------------------------------------------------------------

names = st.text(st.characters(codec="utf-8"), min_size=1, max_size=30)
plain = st.text(st.characters(codec="utf-8", exclude_characters="\n"), max_size=30)
SEED = bytes(range(32))
SEED_PUBLIC = (
    Ed25519PrivateKey.from_private_bytes(SEED)
    .public_key()
    .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
)


@settings(max_examples=150, deadline=None)
@given(user_id=st.integers(1, 2**52), first_name=names, photo=names, start_param=plain)
def test_round_trip_property(user_id: int, first_name: str, photo: str, start_param: str) -> None:
    user = {"id": user_id, "first_name": first_name, "photo_url": f"https://t.me/{photo}"}
    fields: Fields = {"user": user, "start_param": start_param, "auth_date": 1650385342}
    signed = sign_init_data(fields, bot_token="42:TEST", ed25519_private_key=SEED)
    for data in (
        verify_init_data(signed, bot_token="42:TEST", now=NOW),
        verify_init_data_signature(signed, bot_id=42, public_key=SEED_PUBLIC),
    ):
        assert data.user is not None
        assert (data.user.id, data.user.first_name, data.user.photo_url) == (
            user_id,
            first_name,
            user["photo_url"],
        )
        assert data.start_param == start_param


@settings(max_examples=300, deadline=None)
@given(position=st.integers(0, len(VECTOR) - 1), char=st.sampled_from("%&=0aAfF7+\\/x"))
def test_a_mutated_vector_never_verifies_different_fields(position: int, char: str) -> None:
    mutated = VECTOR[:position] + char + VECTOR[position + 1 :]
    try:
        data = verify_init_data(mutated, bot_token="42:TEST", now=NOW)
    except InitDataError:
        return
    # Some edits are only another spelling of the same bytes (%7b for %7B); nothing else passes.
    assert dict(data.fields) == dict(parse_qsl(VECTOR))
