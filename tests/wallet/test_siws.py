"""Sign In With Solana: the message layout of Phantom's SIWS / the Wallet Standard, and ed25519
verification with keys the test makes (PyNaCl and solders)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import base58
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey
from solders.keypair import Keypair

from wallet import siws
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
    VerificationError,
)
from wallet.siwe_grammar import format_datetime

KEY = SigningKey(bytes(range(32)))
ADDRESS = base58.b58encode(bytes(KEY.verify_key)).decode()
OTHER_KEY = SigningKey(bytes(range(1, 33)))
OTHER_ADDRESS = base58.b58encode(bytes(OTHER_KEY.verify_key)).decode()
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

FULL_TEXT = (
    "townsquare.example wants you to sign in with your Solana account:\n"
    f"{ADDRESS}\n\n"
    "Link this wallet to your Townsquare member.\n\n"
    "URI: https://townsquare.example/link\n"
    "Version: 1\n"
    "Chain ID: solana:mainnet\n"
    "Nonce: abcdEFGH1234\n"
    "Issued At: 2025-06-01T11:59:00.000Z\n"
    "Expiration Time: 2025-06-01T12:09:00.000Z\n"
    "Not Before: 2025-06-01T11:58:00Z\n"
    "Request ID: link-42\n"
    "Resources:\n"
    "- https://townsquare.example/terms\n"
    "- ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"
)


def message(**overrides: Any) -> siws.SiwsMessage:
    fields: dict[str, Any] = {
        "domain": "townsquare.example",
        "address": ADDRESS,
        "statement": "Link this wallet to your Townsquare member.",
        "uri": "https://townsquare.example/link",
        "version": "1",
        "chain_id": "solana:mainnet",
        "nonce": "abcdEFGH1234",
        "issued_at": "2025-06-01T11:59:00.000Z",
    }
    return siws.SiwsMessage(**(fields | overrides))


def sign(text: str, key: SigningKey = KEY) -> bytes:
    return key.sign(text.encode()).signature


# --- the message layout ----------------------------------------------------------------------


def test_full_message_parses_field_by_field_and_renders_back() -> None:
    parsed = siws.parse(FULL_TEXT)
    assert parsed == message(
        expiration_time="2025-06-01T12:09:00.000Z",
        not_before="2025-06-01T11:58:00Z",
        request_id="link-42",
        resources=[
            "https://townsquare.example/terms",
            "ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
        ],
    )
    assert parsed.to_text() == FULL_TEXT
    assert parsed.issued_at_dt == datetime(2025, 6, 1, 11, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ({}, "{h}\n{a}"),
        ({"statement": "S"}, "{h}\n{a}\n\nS"),
        ({"nonce": "12345678"}, "{h}\n{a}\n\nNonce: 12345678"),
        ({"statement": "S", "version": "1"}, "{h}\n{a}\n\nS\n\nVersion: 1"),
        ({"resources": []}, "{h}\n{a}\n\nResources:"),
        ({"request_id": ""}, "{h}\n{a}\n\nRequest ID: "),
        ({"scheme": "https", "chain_id": "devnet"}, "https://{h}\n{a}\n\nChain ID: devnet"),
    ],
)
def test_optional_parts_layout(fields: dict[str, Any], text: str) -> None:
    header = "townsquare.example wants you to sign in with your Solana account:"
    expected = text.format(h=header, a=ADDRESS)
    built = siws.SiwsMessage(domain="townsquare.example", address=ADDRESS, **fields)
    assert built.to_text() == expected
    assert siws.parse(expected) == built


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("townsquare.example wants", "town square wants"),
        ("townsquare.example wants", " wants"),
        ("Solana account", "Ethereum account"),
        (ADDRESS, ADDRESS + "0"),
        (ADDRESS, ADDRESS[:31]),
        (ADDRESS, "1" + ADDRESS),
        ("\n\nLink", "\nLink"),
        ("\n\nLink", "\n\n\nLink"),
        ("\n\nLink", "\nJunk\nLink"),
        ("member.\n\nURI", "member.\nURI"),
        ("member.", "member.\nsecond line"),
        ("Link this", 'Link "this"'),
        ("Version: 1", "Version: 2"),
        ("Chain ID: solana:mainnet", "Chain ID: solana:localnet"),
        ("Chain ID: solana:mainnet", "Chain ID: 1"),
        ("Nonce: abcdEFGH1234", "Nonce: abc-1234"),
        ("Issued At: 2025-06-01T11:59:00.000Z", "Issued At: 2025-06-31T11:59:00Z"),
        ("Not Before: 2025-06-01T11:58:00Z", "Not Before: yesterday"),
        ("URI: https://townsquare.example/link", "URI: not a uri"),
        ("Version: 1\nChain ID: solana:mainnet", "Chain ID: solana:mainnet\nVersion: 1"),
        ("Request ID: link-42", "Request ID: link 42"),
        ("Request ID: link-42\n", "Request ID: link-42\nColour: red\n"),
        ("- https://townsquare.example/terms", "- :bad"),
        ("- https://townsquare.example/terms", "-https://townsquare.example/terms"),
        ("fbzdi", "fbzdi\n"),
    ],
)
def test_grammar_refuses(old: str, new: str) -> None:
    text = FULL_TEXT.replace(old, new, 1)
    assert text != FULL_TEXT
    with pytest.raises(MalformedMessage):
        siws.parse(text)


@pytest.mark.parametrize(
    "fields",
    [
        {"statement": ""},
        {"statement": "Nonce: 12345678"},
        {"statement": "Resources:"},
        {"domain": ""},
        {"resources": "https://a"},
        {"version": 1},
    ],
)
def test_constructor_refuses(fields: dict[str, Any]) -> None:
    with pytest.raises(MalformedMessage):
        message(**fields)


def test_statement_like_a_field_reads_as_fields() -> None:
    text = f"a.example wants you to sign in with your Solana account:\n{ADDRESS}\n\nNonce: 12345678"
    assert siws.parse(text).statement is None
    assert siws.parse(text).nonce == "12345678"


def test_public_key_decoding() -> None:
    assert siws.public_key(ADDRESS) == bytes(KEY.verify_key)
    for bad in ("", "0" * 44, ADDRESS[:-2], base58.b58encode(b"\1" * 33).decode()):
        with pytest.raises(InvalidAddress):
            siws.public_key(bad)


# --- verification ----------------------------------------------------------------------------


def test_signature_in_every_accepted_encoding() -> None:
    text = message().to_text()
    raw = sign(text)
    for signature in (
        raw,
        bytearray(raw),
        raw.hex(),
        "0x" + raw.hex().upper(),
        base58.b58encode(raw).decode(),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
    ):
        assert siws.verify(text, signature, address=ADDRESS, now=NOW).address == ADDRESS


def test_solders_keypair_signature_verifies() -> None:
    keypair = Keypair.from_seed(bytes(range(32)))
    assert str(keypair.pubkey()) == ADDRESS
    text = message().to_text()
    signature = str(keypair.sign_message(text.encode()))
    assert siws.verify(text, signature, address=str(keypair.pubkey()), now=NOW)


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param(lambda text: sign(text + " "), id="other message"),
        pytest.param(lambda text: sign(text, OTHER_KEY), id="other key"),
        pytest.param(lambda text: sign(text)[:63], id="truncated"),
        pytest.param(lambda text: sign(text) + b"\0", id="extended"),
        pytest.param(lambda text: base58.b58encode(sign(text)[:63]).decode(), id="short base58"),
        pytest.param(lambda text: base64.b64encode(sign(text)).decode()[:-2], id="unpadded b64"),
        pytest.param(lambda text: "not a signature!", id="garbage"),
        pytest.param(lambda text: bytes(64), id="zeros"),
        pytest.param(lambda text: 42, id="not text"),
        pytest.param(
            lambda text: sign(text)[:5] + bytes([sign(text)[5] ^ 1]) + sign(text)[6:], id="bit"
        ),
    ],
)
def test_bad_signature_is_invalid(signature: Any) -> None:
    text = message().to_text()
    with pytest.raises(InvalidSignature):
        siws.verify(text, signature(text), address=ADDRESS, now=NOW)


def test_message_must_name_the_expected_account() -> None:
    text = message(address=OTHER_ADDRESS).to_text()
    with pytest.raises(AddressMismatch, match=OTHER_ADDRESS):
        siws.verify(text, sign(text, OTHER_KEY), address=ADDRESS, now=NOW)
    assert siws.verify(text, sign(text, OTHER_KEY), address=OTHER_ADDRESS, now=NOW)
    with pytest.raises(InvalidAddress):
        siws.verify(text, sign(text, OTHER_KEY), address="not-base58", now=NOW)


def test_expected_domain_nonce_and_chain() -> None:
    text = message().to_text()
    signature = sign(text)
    good = {"domain": "townsquare.example", "nonce": "abcdEFGH1234", "chain_id": "solana:mainnet"}
    assert siws.verify(text, signature, address=ADDRESS, now=NOW, **good)
    for bad, error in (
        ({"domain": "evil.example"}, DomainMismatch),
        ({"nonce": "abcdEFGH1235"}, NonceMismatch),
        ({"chain_id": "solana:devnet"}, ChainMismatch),
    ):
        with pytest.raises(error):
            siws.verify(text, signature, address=ADDRESS, now=NOW, **(good | bad))
    bare = message(nonce=None).to_text()
    with pytest.raises(NonceMismatch, match="missing"):
        siws.verify(bare, sign(bare), address=ADDRESS, now=NOW, nonce="abcdEFGH1234")


def test_issued_at_age_and_skew() -> None:
    issued = datetime(2025, 6, 1, 11, 59, tzinfo=UTC)
    text = message().to_text()
    signature = sign(text)

    def check(now: datetime, **kwargs: Any) -> siws.SiwsMessage:
        return siws.verify(text, signature, address=ADDRESS, now=now, **kwargs)

    assert check(issued + timedelta(minutes=10))
    with pytest.raises(Expired, match="more than"):
        check(issued + timedelta(minutes=10, seconds=1))
    assert check(issued + timedelta(hours=5), max_age=None)
    assert check(issued + timedelta(minutes=30), max_age=timedelta(hours=1))
    assert check(issued - timedelta(minutes=1))
    with pytest.raises(NotYetValid, match="future"):
        check(issued - timedelta(minutes=1, seconds=1))
    with pytest.raises(NotYetValid):
        check(issued - timedelta(seconds=1), clock_skew=timedelta(0))
    with pytest.raises(ValueError, match="aware"):
        check(datetime(2025, 6, 1, 12, 0))  # noqa: DTZ001


def test_expiration_and_not_before() -> None:
    text = message(
        expiration_time="2025-06-01T12:05:00Z", not_before="2025-06-01T11:59:30Z"
    ).to_text()
    signature = sign(text)
    verify = siws.verify
    assert verify(text, signature, address=ADDRESS, now=datetime(2025, 6, 1, 12, 4, tzinfo=UTC))
    with pytest.raises(Expired, match="expired"):
        verify(text, signature, address=ADDRESS, now=datetime(2025, 6, 1, 12, 5, tzinfo=UTC))
    with pytest.raises(NotYetValid, match="not valid before"):
        verify(text, signature, address=ADDRESS, now=datetime(2025, 6, 1, 11, 59, 29, tzinfo=UTC))


def test_freshness_needs_issued_at(monkeypatch: pytest.MonkeyPatch) -> None:
    text = message(issued_at=None).to_text()
    with pytest.raises(MalformedMessage, match="Issued At"):
        siws.verify(text, sign(text), address=ADDRESS, now=NOW)
    monkeypatch.setattr("core.clock.utcnow", lambda: NOW)
    assert siws.verify(text, sign(text), address=ADDRESS, max_age=None)


# --- properties ------------------------------------------------------------------------------

uris = st.from_regex(r"(https|ipfs)://[a-z0-9.-]{1,12}(/[a-zA-Z0-9._~-]{0,8}){0,3}", fullmatch=True)
times = st.datetimes(
    min_value=datetime(1970, 1, 1),  # noqa: DTZ001 - hypothesis takes naive bounds
    max_value=datetime(2200, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
).map(format_datetime)
STATEMENT_CHARS = (
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#[]@!$&'()*+,;= "
)
statements = st.text(
    alphabet=STATEMENT_CHARS,
    min_size=1,
    max_size=60,
).filter(lambda s: not s.startswith(siws._FIELD_STARTS))
messages = st.builds(
    siws.SiwsMessage,
    domain=st.from_regex(r"[a-z0-9-]{1,12}(\.[a-z]{2,5}){0,2}(:[0-9]{1,5})?", fullmatch=True),
    address=st.binary(min_size=32, max_size=32).map(lambda b: base58.b58encode(b).decode()),
    statement=st.none() | statements,
    uri=st.none() | uris,
    version=st.none() | st.just("1"),
    chain_id=st.none() | st.sampled_from(sorted(siws.CHAIN_IDS)),
    nonce=st.none() | st.from_regex(r"[A-Za-z0-9]{8,24}", fullmatch=True),
    issued_at=st.none() | times,
    expiration_time=st.none() | times,
    not_before=st.none() | times,
    request_id=st.none() | st.from_regex(r"[A-Za-z0-9._~:@-]{0,12}", fullmatch=True),
    resources=st.none() | st.lists(uris, max_size=3),
    scheme=st.none() | st.just("https"),
)


@given(messages)
@settings(max_examples=150, deadline=None)
def test_parse_inverts_to_text(built: siws.SiwsMessage) -> None:
    assert siws.parse(built.to_text()) == built


@given(messages, st.data())
@settings(max_examples=200, deadline=None)
def test_damaged_text_is_refused_or_reparses_cleanly(built: siws.SiwsMessage, data: Any) -> None:
    text = built.to_text()
    at = data.draw(st.integers(min_value=0, max_value=len(text)))
    insert = data.draw(st.sampled_from(["", "\n", " ", ":", "0", "x", "é"]))
    damaged = text[:at] + insert + text[at + (0 if insert else 1) :]
    try:
        parsed = siws.parse(damaged)
    except VerificationError:
        return
    assert siws.parse(parsed.to_text()) == parsed


@given(st.binary(min_size=32, max_size=32), messages, st.integers(min_value=0, max_value=511))
@settings(max_examples=40, deadline=None)
def test_any_key_signs_and_any_flipped_bit_fails(
    seed: bytes, built: siws.SiwsMessage, bit: int
) -> None:
    key = SigningKey(seed)
    address = base58.b58encode(bytes(key.verify_key)).decode()
    window = {"issued_at": None, "expiration_time": None, "not_before": None}
    fields = built.__dict__ | window | {"address": address}
    text = siws.SiwsMessage(**fields).to_text()
    signature = bytearray(key.sign(text.encode()).signature)
    assert siws.verify(text, bytes(signature), address=address, now=NOW, max_age=None)
    signature[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(InvalidSignature):
        siws.verify(text, bytes(signature), address=address, now=NOW, max_age=None)
