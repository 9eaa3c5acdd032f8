"""EIP-4361 (Sign-In with Ethereum): the official spruceid/siwe vectors, the grammar's edges,
signatures made by a key the test holds, and the EIP-1271 fallback against a tiny fake client."""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from eth_abi import decode
from eth_account import Account
from eth_account.messages import defunct_hash_message, encode_defunct
from eth_utils import keccak, to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st
from web3.exceptions import ContractLogicError

from wallet import siwe
from wallet.errors import (
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
from wallet.siwe_grammar import IPV6, format_datetime, is_authority, parse_datetime

# The spruceid/siwe suite (commit 940a66a, MIT/Apache-2.0), copied from the shared vectors.
VECTORS = Path(__file__).parent / "vectors" / "siwe"
CAMEL = {
    "chainId": "chain_id",
    "issuedAt": "issued_at",
    "expirationTime": "expiration_time",
    "notBefore": "not_before",
    "requestId": "request_id",
}
OPTIONAL = ("statement", "expiration_time", "not_before", "request_id", "resources", "scheme")


def load(name: str) -> dict[str, Any]:
    return json.loads((VECTORS / name).read_text())


POSITIVE = load("parsing_positive.json")
NEGATIVE = load("parsing_negative.json")
NEGATIVE_OBJECTS = load("parsing_negative_objects.json")
VERIFY_OK = load("verification_positive.json")
VERIFY_BAD = load("verification_negative.json")
EIP1271 = load("eip1271.json")
# The error each negative verification vector must raise, by its name in the suite.
VERIFY_BAD_ERRORS: dict[str, type[VerificationError]] = {
    "expired message": Expired,
    "domain binding": DomainMismatch,
    "custom time": Expired,
    "custom nonce": NonceMismatch,
    "malformed signature": InvalidSignature,
    "wrong signature": InvalidSignature,
    "not yet valid": NotYetValid,
    "invalid issuedAt": MalformedMessage,
    "invalid notBefore": MalformedMessage,
    "invalid expirationTime": MalformedMessage,
}

README_TEXT = (
    "login.xyz wants you to sign in with your Ethereum account:\n"
    "0x9D85ca56217D2bb651b00f15e694EB7E713637D4\n\n"
    "Sign-In With Ethereum Example Statement\n\n"
    "URI: https://login.xyz\nVersion: 1\nChain ID: 1\nNonce: bTyXgcQxn2htgkjJn\n"
    "Issued At: 2022-01-27T17:09:38.578Z\nExpiration Time: 2100-01-07T14:31:43.952Z"
)
README_SIGNATURE = (
    "0xdc35c7f8ba2720df052e0092556456127f00f7707eaa8e3bbff7e56774e7f2e05a093cfc9e02964c33d86e8e0"
    "66e221b7d153d27e5a2e97ccd5ca7d3f2ce06cb1b"
)

KEY = Account.from_key("0x" + "4c" * 32)
OTHER_KEY = Account.from_key("0x" + "5d" * 32)
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def signed_message(**overrides: Any) -> siwe.SiweMessage:
    fields: dict[str, Any] = {
        "domain": "townsquare.example",
        "address": KEY.address,
        "statement": "Link this wallet to your Townsquare member.",
        "uri": "https://townsquare.example/link",
        "chain_id": 1,
        "nonce": "abcdEFGH1234",
        "issued_at": "2025-06-01T11:59:00.000Z",
        "expiration_time": "2025-06-01T12:09:00.000Z",
    }
    return siwe.SiweMessage(**(fields | overrides))


def sign(text: str, key: Any = KEY) -> bytes:
    return bytes(Account.sign_message(encode_defunct(text=text), key.key).signature)


def expected_fields(fields: dict[str, Any]) -> dict[str, Any]:
    values = {CAMEL.get(k, k): v for k, v in fields.items()}
    if "resources" in values:
        values["resources"] = tuple(values["resources"])
    return {name: values.get(name) for name in OPTIONAL} | values


# --- the official vectors -----------------------------------------------------------------


@pytest.mark.parametrize("name", list(POSITIVE))
def test_positive_vectors_parse_to_their_fields_and_render_back(name: str) -> None:
    vector = POSITIVE[name]
    message = siwe.parse(vector["message"])
    for field, value in expected_fields(vector["fields"]).items():
        assert getattr(message, field) == value, field
    assert message.to_text() == vector["message"]
    fields = {k: v for k, v in vector["fields"].items() if v is not None}
    assert siwe.SiweMessage.from_fields(**fields) == message


@pytest.mark.parametrize("name", list(NEGATIVE))
def test_negative_vectors_do_not_parse(name: str) -> None:
    with pytest.raises(MalformedMessage):
        siwe.parse(NEGATIVE[name])


@pytest.mark.parametrize("name", list(NEGATIVE_OBJECTS))
def test_negative_objects_do_not_build(name: str) -> None:
    with pytest.raises(MalformedMessage):
        siwe.SiweMessage.from_fields(**NEGATIVE_OBJECTS[name])


def split_vector(vector: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    fields = dict(vector)
    checks = {
        "signature": fields.pop("signature"),
        "domain": fields.pop("domainBinding", None),
        "nonce": fields.pop("matchNonce", None),
        "time": fields.pop("time", None),
    }
    return fields, checks


@pytest.mark.parametrize("name", list(VERIFY_OK))
def test_positive_verification_vectors(name: str) -> None:
    fields, checks = split_vector(VERIFY_OK[name])
    message = siwe.SiweMessage.from_fields(**fields)
    now = parse_datetime(checks["time"]) if checks["time"] else None
    assert siwe.verify(message.to_text(), checks["signature"], now=now) == message


@pytest.mark.parametrize("name", list(VERIFY_BAD))
def test_negative_verification_vectors(name: str) -> None:
    fields, checks = split_vector(VERIFY_BAD[name])
    now = parse_datetime(checks["time"]) if checks["time"] else None
    with pytest.raises(VERIFY_BAD_ERRORS[name]):
        text = siwe.SiweMessage.from_fields(**fields).to_text()
        siwe.verify(
            text, checks["signature"], domain=checks["domain"], nonce=checks["nonce"], now=now
        )


def test_readme_case_verifies_and_is_bound_to_its_domain() -> None:
    message = siwe.verify(README_TEXT, README_SIGNATURE, domain="login.xyz")
    assert message.address == "0x9D85ca56217D2bb651b00f15e694EB7E713637D4"
    with pytest.raises(DomainMismatch, match="example.com"):
        siwe.verify(README_TEXT, README_SIGNATURE, domain="example.com")


@pytest.mark.parametrize("name", list(EIP1271))
def test_eip1271_vector_messages_parse(name: str) -> None:
    message = siwe.parse(EIP1271[name]["message"])
    assert message.domain == "localhost:4361"
    assert message.to_text() == EIP1271[name]["message"]


# --- the EIP-1271 fallback, with a fake of the two web3 calls it makes -------------------------


class FakeEth:
    def __init__(self, code: bytes, answer: bytes | Exception) -> None:
        self.code, self.answer, self.calls = code, answer, []

    def get_code(self, address: str) -> bytes:
        self.calls.append(("get_code", address))
        return self.code

    def call(self, transaction: dict[str, Any]) -> bytes:
        self.calls.append(("call", transaction))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class AsyncFakeEth(FakeEth):
    async def get_code(self, address: str) -> bytes:  # type: ignore[override]
        return super().get_code(address)

    async def call(self, transaction: dict[str, Any]) -> bytes:  # type: ignore[override]
        return super().call(transaction)


class FakeW3:
    def __init__(self, eth: FakeEth) -> None:
        self.eth = eth


MAGIC_WORD = bytes.fromhex("1626ba7e").ljust(32, b"\0")
CONTRACT_ANSWERS = {
    "magic": (MAGIC_WORD, True),
    "invalid value": (bytes.fromhex("ffffffff").ljust(32, b"\0"), False),
    "magic with dirty padding": (bytes.fromhex("1626ba7e").ljust(32, b"\1"), False),
    "empty answer": (b"", False),
    "revert": (ContractLogicError("execution reverted"), False),
}


async def verify_with(eth: FakeEth, text: str, signature: str) -> siwe.SiweMessage:
    w3: Any = FakeW3(eth)
    now = datetime(2022, 4, 20, tzinfo=UTC)
    if isinstance(eth, AsyncFakeEth):
        return await siwe.averify(text, signature, now=now, w3=w3)
    return siwe.verify(text, signature, now=now, w3=w3)


@pytest.mark.parametrize("name", list(EIP1271))
@pytest.mark.parametrize("answer", list(CONTRACT_ANSWERS))
@pytest.mark.parametrize("eth_class", [FakeEth, AsyncFakeEth])
async def test_contract_wallet_answer_decides(
    name: str, answer: str, eth_class: type[FakeEth]
) -> None:
    text, signature = EIP1271[name]["message"], EIP1271[name]["signature"]
    reply, accepted = CONTRACT_ANSWERS[answer]
    eth = eth_class(b"\x60\x80", reply)
    if accepted:
        assert (await verify_with(eth, text, signature)).address == siwe.parse(text).address
    else:
        with pytest.raises(InvalidSignature, match="EIP-1271"):
            await verify_with(eth, text, signature)
    (_, code_of), (_, transaction) = eth.calls
    assert code_of == siwe.parse(text).address == transaction["to"]
    data = bytes(transaction["data"])
    assert data[:4] == keccak(text="isValidSignature(bytes32,bytes)")[:4]
    digest, sent = decode(["bytes32", "bytes"], data[4:])
    assert digest == siwe.eip191_hash(text) == bytes(defunct_hash_message(text=text))
    assert sent == bytes.fromhex(signature[2:])


def test_address_without_code_is_not_asked() -> None:
    eth = FakeEth(b"", MAGIC_WORD)
    text = signed_message().to_text()
    with pytest.raises(InvalidSignature, match="made by"):
        siwe.verify(text, sign(text, OTHER_KEY), now=NOW, w3=FakeW3(eth))  # type: ignore[arg-type]
    assert [kind for kind, _ in eth.calls] == ["get_code"]


async def test_eoa_signature_never_touches_the_chain() -> None:
    text = signed_message().to_text()
    untouchable: Any = object()  # any attribute access would raise
    assert siwe.verify(text, sign(text), now=NOW, w3=untouchable).address == KEY.address
    assert (await siwe.averify(text, sign(text), now=NOW, w3=untouchable)).address == KEY.address


# --- signatures made by a key the test holds -----------------------------------------------


def test_own_key_signature_in_every_encoding() -> None:
    text = signed_message().to_text()
    raw = sign(text)
    lowered_v = raw[:64] + bytes([raw[64] - 27])
    for signature in (raw, "0x" + raw.hex(), raw.hex(), "0X" + raw.hex().upper(), lowered_v):
        assert siwe.verify(text, signature, now=NOW).address == KEY.address


def tamper(raw: bytes, how: str) -> bytes | str:
    return {
        "truncated": raw[:64],
        "empty": b"",
        "extended": raw + b"\0",
        "non-hex": "0x" + "zz" * 65,
        "odd hex": "0x" + raw.hex()[:-1],
        "recovery byte 29": raw[:64] + b"\x1d",
        "r is zero": bytes(32) + raw[32:],
        "s is the group order": raw[:32] + N.to_bytes(32, "big") + raw[64:],
        "flipped bit": raw[:10] + bytes([raw[10] ^ 1]) + raw[11:],
    }[how]


@pytest.mark.parametrize(
    "how",
    [
        "truncated",
        "empty",
        "extended",
        "non-hex",
        "odd hex",
        "recovery byte 29",
        "r is zero",
        "s is the group order",
        "flipped bit",
    ],
)
def test_damaged_signature_is_invalid(how: str) -> None:
    text = signed_message().to_text()
    with pytest.raises(InvalidSignature):
        siwe.verify(text, tamper(sign(text), how), now=NOW)


def test_wrong_key_and_other_text_are_invalid() -> None:
    text = signed_message().to_text()
    with pytest.raises(InvalidSignature, match=OTHER_KEY.address):
        siwe.verify(text, sign(text, OTHER_KEY), now=NOW)
    other = signed_message(nonce="zzzzZZZZ9999").to_text()
    with pytest.raises(InvalidSignature):
        siwe.verify(text, sign(other), now=NOW)


def test_time_window_is_checked_without_any_replay_state() -> None:
    text = signed_message(not_before="2025-06-01T11:59:30Z").to_text()
    signature = sign(text)
    expires = datetime(2025, 6, 1, 12, 9, tzinfo=UTC)
    assert siwe.verify(text, signature, now=expires - timedelta(microseconds=1))
    with pytest.raises(Expired):
        siwe.verify(text, signature, now=expires)
    assert siwe.verify(text, signature, now=datetime(2025, 6, 1, 11, 59, 30, tzinfo=UTC))
    with pytest.raises(NotYetValid):
        siwe.verify(text, signature, now=datetime(2025, 6, 1, 11, 59, 29, tzinfo=UTC))
    with pytest.raises(ValueError, match="aware"):
        siwe.verify(text, signature, now=datetime(2025, 6, 1, 12, 0))  # noqa: DTZ001


def test_default_now_is_the_project_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    text = signed_message().to_text()
    monkeypatch.setattr("core.clock.utcnow", lambda: NOW)
    assert siwe.verify(text, sign(text))
    monkeypatch.setattr("core.clock.utcnow", lambda: NOW + timedelta(hours=1))
    with pytest.raises(Expired):
        siwe.verify(text, sign(text))


async def test_expected_domain_nonce_and_chain() -> None:
    text = signed_message(chain_id=8453).to_text()
    signature = sign(text)
    good = {"domain": "townsquare.example", "nonce": "abcdEFGH1234", "chain_id": 8453}
    assert siwe.verify(text, signature, now=NOW, **good)
    assert await siwe.averify(text, signature, now=NOW, **good)
    for bad, error in (
        ({"domain": "townsquare.example:443"}, DomainMismatch),
        ({"nonce": "abcdEFGH1235"}, NonceMismatch),
        ({"nonce": "abcdEFGH1234é"}, NonceMismatch),
        ({"chain_id": 1}, ChainMismatch),
    ):
        with pytest.raises(error):
            siwe.verify(text, signature, now=NOW, **(good | bad))
        with pytest.raises(error):
            await siwe.averify(text, signature, now=NOW, **(good | bad))


# --- grammar edges ---------------------------------------------------------------------------


BASE = signed_message(statement=None, expiration_time=None).to_text()


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("townsquare.example wants", "user:pw@[v1.fe:80]:8080 wants"),
        ("townsquare.example wants", "[::ffff:10.0.0.1] wants"),
        ("townsquare.example wants", "web+siwe://a%20b wants"),
        ("https://townsquare.example/link", "urn:isbn:0451450523"),
        ("https://townsquare.example/link", "file:///etc/hosts"),
        ("https://townsquare.example/link", "https://a/b?c=/?d#e/?f"),
        ("Issued At: 2025-06-01T11:59:00.000Z", "Issued At: 2024-02-29t23:59:60.123456789z"),
        ("Issued At: 2025-06-01T11:59:00.000Z", "Issued At: 2025-06-01T11:59:00-00:00"),
        ("Chain ID: 1", "Chain ID: 0"),
        ("\n\n\nURI", "\n\n\n\nURI"),  # an empty statement
        ("\n\n\nURI", "\n\nI accept: [terms] & (rules) ~ 'ok' #1 @home $5 *?!\n\nURI"),
        ("2025-06-01T11:59:00.000Z", "2025-06-01T11:59:00.000Z\nRequest ID: \nResources:"),
    ],
)
def test_grammar_accepts(old: str, new: str) -> None:
    text = BASE.replace(old, new, 1)
    assert text != BASE
    message = siwe.parse(text)
    assert siwe.parse(message.to_text()) == message


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("townsquare.example wants", "town square wants"),
        ("townsquare.example wants", "[::1 wants"),
        ("townsquare.example wants", "[1:2:3:4:5:6:7:8:9] wants"),
        ("townsquare.example wants", "[fe80::1%eth0] wants"),
        ("townsquare.example wants", "a@b@c wants"),
        ("townsquare.example wants", "host:80a wants"),
        ("townsquare.example wants", "1https://host wants"),
        ("townsquare.example wants", ":80 wants"),
        (KEY.address, KEY.address.lower()),
        (KEY.address, "0X" + KEY.address[2:]),
        (KEY.address, KEY.address[:-1]),
        ("https://townsquare.example/link", "https://town square/"),
        ("https://townsquare.example/link", "https://a/b#c#d"),
        ("https://townsquare.example/link", "https://a/%zz"),
        ("https://townsquare.example/link", "//no-scheme"),
        ("Version: 1", "Version: 01"),
        ("Chain ID: 1", "Chain ID: ١"),
        ("Chain ID: 1", "Chain ID: 1" + "0" * 78),
        ("Chain ID: 1", "Chain ID: -1"),
        ("Nonce: abcdEFGH1234", "Nonce: abcd_EFGH1234"),
        ("Issued At: 2025-06-01T11:59:00.000Z", "Issued At: 2025-06-01T24:00:00Z"),
        ("Issued At: 2025-06-01T11:59:00.000Z", "Issued At: 2025-06-01T11:59:00+24:00"),
        ("Issued At: 2025-06-01T11:59:00.000Z", "Issued At: 2025-06-01T11:59:00"),
        ("Issued At: 2025-06-01T11:59:00.000Z", "Issued At: 2023-02-29T00:00:00Z"),
        ("Issued At: 2025-06-01T11:59:00.000Z", "Issued At: 2025-06-01 11:59:00Z"),
        ("Issued At: 2025-06-01T11:59:00.000Z", "Issued At: 0000-01-01T00:00:00Z"),
        ("\n\n\nURI", '\n\nSay "hi"\n\nURI'),
        ("\n\n\nURI", "\n\nCaf\u00e9\n\nURI"),
        ("\n\n\nURI", "\n\n100%\n\nURI"),
        ("\n\n\nURI", "\n\ntwo\nlines\n\nURI"),
        ("\n\n\nURI", "\nno blank line before me\n\nURI"),
        ("\n\n\nURI", "\n\nURI"),
        ("2025-06-01T11:59:00.000Z", "2025-06-01T11:59:00.000Z\n"),
        ("2025-06-01T11:59:00.000Z", "2025-06-01T11:59:00.000Z\r"),
        ("2025-06-01T11:59:00.000Z", "2025-06-01T11:59:00.000Z\nRequest ID: a b"),
        ("2025-06-01T11:59:00.000Z", "2025-06-01T11:59:00.000Z\nResources:\n-https://a"),
        ("2025-06-01T11:59:00.000Z", "2025-06-01T11:59:00.000Z\nUnknown: x"),
        (" wants you to sign in with your Ethereum", " wants you to sign in with your ethereum"),
    ],
)
def test_grammar_refuses(old: str, new: str) -> None:
    text = BASE.replace(old, new, 1)
    assert text != BASE
    with pytest.raises(MalformedMessage):
        siwe.parse(text)


def test_mixed_case_address_with_bad_checksum_is_invalid_address() -> None:
    letter = next(i for i, c in enumerate(KEY.address) if i > 1 and c.isalpha())
    flipped = KEY.address[:letter] + KEY.address[letter].swapcase() + KEY.address[letter + 1 :]
    with pytest.raises(InvalidAddress, match="EIP-55"):
        siwe.parse(BASE.replace(KEY.address, flipped))


def test_from_fields_validates_like_the_text() -> None:
    fields = {
        "domain": "a.example",
        "address": KEY.address,
        "uri": "https://a.example",
        "version": "1",
        "chain_id": 1,
        "nonce": "12345678",
        "issuedAt": "2025-01-01T00:00:00Z",
        "resources": [],
    }
    message = siwe.SiweMessage.from_fields(**fields)
    assert message.resources == ()
    assert message.to_text().endswith("\nResources:")
    for extra in ({"chainId": 2}, {"colour": "red"}):
        with pytest.raises(MalformedMessage, match="unknown or repeated"):
            siwe.SiweMessage.from_fields(**(fields | extra))
    for bad in ({"chain_id": True}, {"chain_id": "1"}, {"resources": "https://a"}):
        with pytest.raises(MalformedMessage):
            siwe.SiweMessage.from_fields(**(fields | bad))


def test_generated_nonces_are_valid_and_fresh() -> None:
    nonces = {siwe.generate_nonce() for _ in range(50)}
    assert len(nonces) == 50
    assert all(len(n) == 17 and n.isascii() and n.isalnum() for n in nonces)
    assert siwe.parse(BASE.replace("abcdEFGH1234", nonces.pop())).nonce != "abcdEFGH1234"
    with pytest.raises(ValueError):
        siwe.generate_nonce(7)


def test_format_datetime_matches_javascript_iso_strings() -> None:
    moment = datetime(2025, 6, 1, 14, 0, 1, 234567, tzinfo=UTC)
    assert format_datetime(moment) == "2025-06-01T14:00:01.234Z"
    tokyo = moment.astimezone(datetime.fromisoformat("2025-01-01T00:00:00+09:00").tzinfo)
    assert format_datetime(tokyo) == "2025-06-01T14:00:01.234Z"
    assert parse_datetime("2025-06-01T23:00:01.234+09:00") == moment.replace(microsecond=234000)
    with pytest.raises(ValueError):
        format_datetime(datetime(2025, 6, 1))  # noqa: DTZ001


# --- properties ------------------------------------------------------------------------------

STATEMENT_CHARS = (
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#[]@!$&'()*+,;= "
)
uris = st.from_regex(
    r"(https|ipfs|urn|web\+x)://[a-z0-9.-]{1,12}(:[0-9]{1,5})?(/([a-zA-Z0-9._~-]|%2F){0,8}){0,3}"
    r"(\?[a-z=&/?]{0,8})?(#[a-z/?]{0,5})?",
    fullmatch=True,
)
times = st.datetimes(
    min_value=datetime(1970, 1, 1),  # noqa: DTZ001 - hypothesis takes naive bounds
    max_value=datetime(2200, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
).map(format_datetime) | st.sampled_from(
    ["2021-09-30T16:25:24Z", "2021-09-30T16:25:24-02:00", "2016-12-31T23:59:60.5+00:00"]
)
messages = st.builds(
    siwe.SiweMessage,
    domain=st.from_regex(
        r"([a-z]{1,5}(:[a-z0-9]{0,4})?@)?([a-z0-9-]{1,12}(\.[a-z]{2,5}){0,2}|\[::[0-9a-f]{1,4}\])"
        r"(:[0-9]{0,5})?",
        fullmatch=True,
    ),
    address=st.binary(min_size=20, max_size=20).map(to_checksum_address),
    statement=st.none() | st.text(alphabet=STATEMENT_CHARS, max_size=60),
    uri=uris,
    chain_id=st.integers(min_value=0, max_value=2**256 - 1),
    nonce=st.from_regex(r"[A-Za-z0-9]{8,24}", fullmatch=True),
    issued_at=times,
    expiration_time=st.none() | times,
    not_before=st.none() | times,
    request_id=st.none() | st.from_regex(r"[A-Za-z0-9._~!$&'()*+,;=:@-]{0,12}", fullmatch=True),
    resources=st.none() | st.lists(uris, max_size=3),
    scheme=st.none() | st.sampled_from(["https", "http", "web+siwe"]),
)


@given(messages)
@settings(max_examples=150, deadline=None)
def test_parse_inverts_to_text(message: siwe.SiweMessage) -> None:
    assert siwe.parse(message.to_text()) == message


@given(messages, st.data())
@settings(max_examples=200, deadline=None)
def test_damaged_text_is_refused_or_reparses_cleanly(message: siwe.SiweMessage, data: Any) -> None:
    text = message.to_text()
    at = data.draw(st.integers(min_value=0, max_value=len(text)))
    insert = data.draw(st.sampled_from(["", "\n", " ", ":", "0", "x", "Z", "-", "é"]))
    damaged = text[:at] + insert + text[at + (0 if insert else 1) :]
    try:
        parsed = siwe.parse(damaged)
    except VerificationError:
        return
    assert siwe.parse(parsed.to_text()) == parsed


@given(st.integers(min_value=0, max_value=2**128 - 1), st.booleans())
@settings(max_examples=300, deadline=None)
def test_ipv6_grammar_accepts_every_address_form(value: int, mapped: bool) -> None:
    address = ipaddress.IPv6Address(value)
    forms = [address.compressed, address.exploded]
    if mapped:
        forms.append(f"::ffff:{ipaddress.IPv4Address(value % 2**32)}")
    for form in forms:
        assert IPV6.fullmatch(form), form
        assert is_authority(f"[{form}]:443", require_host=True)
    assert not IPV6.fullmatch(address.exploded + ":1")
    assert not IPV6.fullmatch(address.exploded.replace(":", ":::", 1))


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2),  # noqa: DTZ001 - hypothesis takes naive bounds
        max_value=datetime(9999, 12, 30),  # noqa: DTZ001
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5, minutes=-30))]),
    )
)
@settings(max_examples=300, deadline=None)
def test_rfc3339_parsing_agrees_with_the_standard_library(moment: datetime) -> None:
    text = moment.isoformat()
    assert parse_datetime(text) == moment == datetime.fromisoformat(text)
    assert parse_datetime(text.replace("+00:00", "Z")) == moment
