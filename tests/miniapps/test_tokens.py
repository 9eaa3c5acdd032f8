"""Gateway session tokens: issue, verify, JWKS for third parties, key rotation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from miniapps.tokens import TokenClaims, TokenError, TokenIssuer

SEED = bytes(range(32))
OTHER_SEED = bytes(range(1, 33))
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
ISSUER = TokenIssuer.from_seed(SEED, "k1")


def issue(issuer: TokenIssuer = ISSUER, **overrides: Any) -> str:
    claims: dict[str, Any] = {
        "subject": "member-17",
        "audience": "app-quiz",
        "chat_id": -1001,
        "scopes": ["profile", "wallets:read"],
        "ttl": 900,
        "now": NOW,
    }
    return issuer.issue(**(claims | overrides))


def reason_of(call: Callable[[], object]) -> str:
    with pytest.raises(TokenError) as info:
        call()
    return info.value.reason


def test_round_trip_claims() -> None:
    claims = ISSUER.verify(issue(), audience="app-quiz", chat_id=-1001, now=NOW)
    assert claims == TokenClaims(
        issuer="townsquare",
        subject="member-17",
        audience="app-quiz",
        issued_at=NOW,
        not_before=NOW,
        expires_at=NOW + timedelta(seconds=900),
        token_id=claims.token_id,
        chat_id=-1001,
        scopes=("profile", "wallets:read"),
        key_id="k1",
    )
    assert claims.has_scope("wallets:read")
    assert not claims.has_scope("wallets")
    assert len(claims.token_id) >= 16
    assert claims.token_id != ISSUER.verify(issue(), audience="app-quiz", now=NOW).token_id


def test_wire_format() -> None:
    token = issue(chat_id=None, scopes=[])
    assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "kid": "k1", "typ": "JWT"}
    payload = jwt.decode(token, options={"verify_signature": False})
    assert set(payload) == {"iss", "sub", "aud", "iat", "nbf", "exp", "jti", "scope"}
    assert (payload["iat"], payload["exp"] - payload["iat"], payload["scope"]) == (
        int(NOW.timestamp()),
        900,
        "",
    )
    assert ISSUER.verify(token, audience="app-quiz", now=NOW).chat_id is None


def test_third_party_verifies_with_the_jwks_alone() -> None:
    document = json.loads(json.dumps(ISSUER.jwks()))  # what a builder fetches over HTTP
    (jwk,) = document["keys"]
    assert {k: jwk[k] for k in ("kty", "crv", "kid", "use", "alg")} == {
        "kty": "OKP",
        "crv": "Ed25519",
        "kid": "k1",
        "use": "sig",
        "alg": "EdDSA",
    }
    public = Ed25519PrivateKey.from_private_bytes(SEED).public_key()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert base64.urlsafe_b64decode(jwk["x"] + "=") == raw
    assert "=" not in jwk["x"]

    token = issue(now=datetime.now(UTC))
    key = jwt.PyJWKSet.from_dict(document)[jwt.get_unverified_header(token)["kid"]]
    payload = jwt.decode(token, key, algorithms=["EdDSA"], audience="app-quiz", issuer="townsquare")
    assert (payload["sub"], payload["chat"]) == ("member-17", -1001)
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(token, jwt.PyJWK(jwk), algorithms=["EdDSA"], audience="app-other")
    forged = TokenIssuer.from_seed(OTHER_SEED, "k1").issue(
        subject="member-17", audience="app-quiz", chat_id=None, scopes=[]
    )
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, jwt.PyJWK(jwk), algorithms=["EdDSA"], audience="app-quiz")


def _tamper_payload(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "member-1"
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{body}.{signature}"


def _tamper_signature(token: str) -> str:
    head, _, signature = token.rpartition(".")
    return f"{head}.{('A' if signature[0] != 'A' else 'B')}{signature[1:]}"


def _hand_made(claims: dict[str, Any], seed: bytes = SEED, kid: str = "k1") -> str:
    key = Ed25519PrivateKey.from_private_bytes(seed)
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid})


def _complete(**changes: Any) -> dict[str, Any]:
    now = int(NOW.timestamp())
    claims: dict[str, Any] = {
        "iss": "townsquare",
        "sub": "member-17",
        "aud": "app-quiz",
        "iat": now,
        "nbf": now,
        "exp": now + 60,
        "jti": "j",
        "scope": "",
        "chat": -1001,
    }
    return {k: v for k, v in (claims | changes).items() if v is not None}


def _hs256(claims: dict[str, Any], secret: bytes) -> str:
    """The key-confusion attack, built by hand because PyJWT refuses to sign it."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    signing_input = f"{part({'alg': 'HS256', 'typ': 'JWT', 'kid': 'k1'})}.{part(claims)}"
    mac = hmac.digest(secret, signing_input.encode(), hashlib.sha256)
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


PUBLIC_PEM = (
    Ed25519PrivateKey.from_private_bytes(SEED)
    .public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
)

REJECTIONS: list[tuple[str, Callable[[], str], dict[str, Any], str]] = [
    ("another app", issue, {"audience": "app-other"}, "wrong_audience"),
    ("gateway audience", issue, {"audience": "townsquare"}, "wrong_audience"),
    ("another group", issue, {"chat_id": -1002}, "wrong_chat"),
    ("no group", lambda: issue(chat_id=None), {}, "wrong_chat"),
    (
        "another issuer",
        lambda: issue(TokenIssuer.from_seed(SEED, "k1", issuer="evil")),
        {},
        "wrong_issuer",
    ),
    ("tampered payload", lambda: _tamper_payload(issue()), {}, "bad_signature"),
    ("tampered signature", lambda: _tamper_signature(issue()), {}, "bad_signature"),
    (
        "re-signed by another key",
        lambda: issue(TokenIssuer.from_seed(OTHER_SEED, "k1")),
        {},
        "bad_signature",
    ),
    ("unknown kid", lambda: issue(TokenIssuer.from_seed(SEED, "k9")), {}, "unknown_key"),
    (
        "no kid",
        lambda: jwt.encode(
            _complete(), Ed25519PrivateKey.from_private_bytes(SEED), algorithm="EdDSA"
        ),
        {},
        "unknown_key",
    ),
    (
        "alg none",
        lambda: jwt.encode(_complete(), "", algorithm="none", headers={"kid": "k1"}),
        {},
        "bad_signature",
    ),
    (
        "HS256 with the public key as secret",
        lambda: _hs256(_complete(), PUBLIC_PEM),
        {},
        "bad_signature",
    ),
    ("truncated", lambda: issue()[:-10], {}, "bad_signature"),
    ("two segments", lambda: issue().rpartition(".")[0], {}, "malformed"),
    ("garbage", lambda: "not-a-token", {}, "malformed"),
    ("expired", issue, {"now": NOW + timedelta(seconds=900)}, "expired"),
    ("long expired", issue, {"now": NOW + timedelta(days=30)}, "expired"),
    ("not yet valid", issue, {"now": NOW - timedelta(seconds=1)}, "not_yet_valid"),
    (
        "issued in the future",
        lambda: _hand_made(_complete(iat=int(NOW.timestamp()) + 30)),
        {},
        "not_yet_valid",
    ),
    (
        "nbf in the future",
        lambda: _hand_made(_complete(nbf=int(NOW.timestamp()) + 30)),
        {},
        "not_yet_valid",
    ),
    ("missing jti", lambda: _hand_made(_complete(jti=None)), {}, "malformed"),
    ("missing exp", lambda: _hand_made(_complete(exp=None)), {}, "malformed"),
    ("list audience", lambda: _hand_made(_complete(aud=["app-quiz"])), {}, "wrong_audience"),
    ("float exp", lambda: _hand_made(_complete(exp=1e12)), {}, "malformed"),
    ("string chat", lambda: _hand_made(_complete(chat="-1001")), {}, "malformed"),
    ("numeric subject", lambda: _hand_made(_complete(sub=17)), {}, "malformed"),
]


@pytest.mark.parametrize(
    ("make", "verify_kwargs", "reason"),
    [r[1:] for r in REJECTIONS],
    ids=[r[0] for r in REJECTIONS],
)
def test_rejections(make: Callable[[], str], verify_kwargs: dict[str, Any], reason: str) -> None:
    token = make()
    kwargs: dict[str, Any] = {"audience": "app-quiz", "chat_id": -1001, "now": NOW} | verify_kwargs
    assert reason_of(lambda: ISSUER.verify(token, **kwargs)) == reason


@pytest.mark.parametrize(
    ("offset", "leeway", "valid"),
    [
        (timedelta(seconds=899), 0, True),
        (timedelta(seconds=900), 0, False),
        (timedelta(seconds=905), 10, True),
        (timedelta(seconds=-5), 10, True),
        (timedelta(seconds=-11), 10, False),
    ],
)
def test_validity_window(offset: timedelta, leeway: int, valid: bool) -> None:
    def check() -> object:
        return ISSUER.verify(issue(), audience="app-quiz", now=NOW + offset, leeway=leeway)

    if valid:
        assert check()
    else:
        assert reason_of(check) in {"expired", "not_yet_valid"}


def test_rotation_keeps_old_tokens_until_the_key_is_retired() -> None:
    # Real clock: the third party below checks expiry with PyJWT's own clock.
    old_token = issue(now=datetime.now(UTC))
    rotated = ISSUER.rotate(OTHER_SEED, "k2")
    new_token = issue(rotated, now=datetime.now(UTC))
    assert rotated.kid == "k2"
    assert jwt.get_unverified_header(new_token)["kid"] == "k2"
    assert [k["kid"] for k in rotated.jwks()["keys"]] == ["k2", "k1"]
    for token in (old_token, new_token):
        assert rotated.verify(token, audience="app-quiz").subject == "member-17"
        key_set = jwt.PyJWKSet.from_dict(rotated.jwks())
        key = key_set[jwt.get_unverified_header(token)["kid"]]
        assert jwt.decode(token, key, algorithms=["EdDSA"], audience="app-quiz")
    assert reason_of(lambda: ISSUER.verify(new_token, audience="app-quiz")) == "unknown_key"
    retired = rotated.retire("k1")
    assert [k["kid"] for k in retired.jwks()["keys"]] == ["k2"]
    assert retired.verify(new_token, audience="app-quiz")
    assert reason_of(lambda: retired.verify(old_token, audience="app-quiz")) == "unknown_key"
    with pytest.raises(ValueError, match="current"):
        rotated.retire("k2")
    with pytest.raises(ValueError, match="both"):
        rotated.rotate(SEED, "k1")


def test_previous_keys_from_configuration() -> None:
    raw = ISSUER.jwks()["keys"][0]["x"]
    previous = base64.urlsafe_b64decode(raw + "=")
    issuer = TokenIssuer.from_seed(OTHER_SEED, "k2", previous_keys={"k1": previous})
    assert issuer.verify(issue(), audience="app-quiz", now=NOW).key_id == "k1"


def test_from_pem_matches_from_seed() -> None:
    pem = Ed25519PrivateKey.from_private_bytes(SEED).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    from_pem = TokenIssuer.from_pem(pem, "k1")
    assert from_pem.jwks() == ISSUER.jwks()
    assert ISSUER.verify(issue(from_pem), audience="app-quiz", now=NOW)
    ec_pem = generate_private_key(SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ValueError, match="Ed25519"):
        TokenIssuer.from_pem(ec_pem, "k1")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"ttl": 0}, "ttl"),
        ({"subject": ""}, "subject"),
        ({"audience": ""}, "audience"),
        ({"scopes": ["two words"]}, "whitespace"),
        ({"scopes": [""]}, "whitespace"),
    ],
)
def test_issue_refuses(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        issue(**overrides)


def test_from_seed_refuses_a_short_seed() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        TokenIssuer.from_seed(SEED[:31], "k1")


scope = st.text(st.characters(codec="ascii", exclude_categories=["Cc", "Zs"]), min_size=1)


@settings(max_examples=50, deadline=None)
@given(
    scopes=st.lists(scope, max_size=5),
    chat=st.none() | st.integers(-(2**52), 2**52),
    subject=st.text(min_size=1),
)
def test_claims_round_trip(scopes: list[str], chat: int | None, subject: str) -> None:
    token = issue(scopes=scopes, chat_id=chat, subject=subject)
    claims = ISSUER.verify(token, audience="app-quiz", chat_id=chat, now=NOW)
    assert (claims.scopes, claims.chat_id, claims.subject) == (tuple(scopes), chat, subject)
