"""`POST /miniapp/session`, the session key and the bearer dependency, without a database:
forged, stale, truncated and re-signed initData, another bot's initData, token refusals,
start parameters, and the issuer's key file."""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import jwt
import pytest
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st

from core.clock import utcnow
from core.settings import Settings
from miniapps.api import create_api_router
from miniapps.auth import InitDataError
from miniapps.deps import (
    AUDIENCE,
    KEY_FILE,
    create_session_router,
    load_issuer,
    parse_start_param,
    start_param_for,
)
from miniapps.errors import install_error_handlers
from miniapps.initdata_sign import sign_init_data

TOKEN = "4242:our-bot-token-for-tests"
OTHER_BOT = "4343:another-bot-token"
USER = {"id": 777, "first_name": "Ann"}


def settings(tmp_path: Path, **extra: Any) -> Settings:
    return Settings(mode="sandbox", data_dir=tmp_path, bot_token=TOKEN, **extra)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.state.gateway = SimpleNamespace(settings=settings(tmp_path), sessions=None)
    install_error_handlers(app)
    app.include_router(create_session_router())
    app.include_router(create_api_router())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://town.example") as c:
        yield c


def signed(**fields: Any) -> str:
    return sign_init_data({"user": USER, **fields}, bot_token=TOKEN)


def resigned_with(init_data: str, **changes: str) -> str:
    """The same fields with some changed, the old hash kept: what a tamperer can do."""
    fields = dict(parse_qsl(init_data, keep_blank_values=True))
    fields.update(changes)
    return urlencode(fields)


def cases() -> list[tuple[str, str, str]]:
    good = signed()
    old = int((utcnow() - timedelta(hours=2)).timestamp())
    return [
        ("forged user", resigned_with(good, user='{"id":1,"first_name":"Eve"}'), "bad_hash"),
        ("forged hash", resigned_with(good, hash="0" * 64), "bad_hash"),
        ("truncated", good[: len(good) // 2], "missing_hash"),
        (
            "no hash",
            "&".join(p for p in good.split("&") if not p.startswith("hash=")),
            "missing_hash",
        ),
        ("stale", sign_init_data({"user": USER, "auth_date": old}, bot_token=TOKEN), "expired"),
        ("another bot", sign_init_data({"user": USER}, bot_token=OTHER_BOT), "bad_hash"),
        ("garbage", "%%%", "malformed"),
        ("no user", sign_init_data({"chat_type": "sender"}, bot_token=TOKEN), "no_user"),
        ("bad start", signed(start_param="hello"), "bad_start_param"),
        (
            "moved start",
            resigned_with(signed(start_param="gm100"), start_param="gm200"),
            "bad_hash",
        ),
    ]


@pytest.mark.parametrize(("name", "init_data", "reason"), cases(), ids=[c[0] for c in cases()])
async def test_rejected_init_data(
    client: httpx.AsyncClient, name: str, init_data: str, reason: str
) -> None:
    answer = await client.post("/miniapp/session", json={"init_data": init_data})
    assert answer.status_code == 401, name
    assert answer.json() == {"reason": reason}


async def test_private_launch_gets_a_token_without_a_group(client: httpx.AsyncClient) -> None:
    answer = await client.post("/miniapp/session", json={"init_data": signed()})
    assert answer.status_code == 200
    body = answer.json()
    assert (body["member_id"], body["chat_id"], body["first_name"]) == (777, None, "Ann")
    jwks = (await client.get("/.well-known/jwks.json")).json()
    key = jwt.PyJWK(jwks["keys"][0])
    claims = jwt.decode(body["token"], key.key, algorithms=["EdDSA"], audience=AUDIENCE)
    assert claims["sub"] == "777" and "chat" not in claims
    assert claims["exp"] - claims["iat"] == body["expires_in"]


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing_token"),
        ("Basic abc", "missing_token"),
        ("Bearer not.a.jwt", "malformed"),
        ("Bearer ", "missing_token"),
    ],
)
async def test_api_refuses_missing_or_bad_tokens(
    client: httpx.AsyncClient, header: str | None, reason: str
) -> None:
    headers = {"Authorization": header} if header is not None else {}
    for path in ("/miniapp/api/points", "/miniapp/api/wallets", "/miniapp/api/leaderboard"):
        answer = await client.get(path, headers=headers)
        assert answer.status_code == 401
        assert answer.json() == {"reason": reason}


async def test_api_refuses_tokens_of_another_issuer_or_audience(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    stranger = load_issuer(settings(tmp_path, token_seed="11" * 32))
    ours = load_issuer(settings(tmp_path))
    for token, reason in (
        (stranger.issue(subject="777", audience=AUDIENCE, chat_id=None, scopes=[]), "unknown_key"),
        (
            ours.issue(subject="777", audience="builder-app", chat_id=None, scopes=[]),
            "wrong_audience",
        ),
    ):
        answer = await client.get(
            "/miniapp/api/wallets", headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 401
        assert answer.json() == {"reason": reason}


def test_issuer_key_file_is_private_and_stable(tmp_path: Path) -> None:
    first = load_issuer(settings(tmp_path))
    path = tmp_path / KEY_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_issuer(settings(tmp_path)).jwks() == first.jwks()
    seeded = load_issuer(settings(tmp_path, token_seed="ab" * 32))
    assert seeded.kid != first.kid
    path.write_bytes(b"short")
    with pytest.raises(ValueError, match="32-byte"):
        load_issuer(settings(tmp_path))


@given(st.integers(-(2**63) + 1, 2**63 - 1), st.sampled_from([None, "points", "leaderboard"]))
def test_start_param_round_trip(chat_id: int, page: str | None) -> None:
    value = start_param_for(chat_id, page)
    assert len(value) <= 64
    assert all(c.isalnum() or c in "_-" for c in value)
    parsed = parse_start_param(value)
    assert (parsed.chat_id, parsed.page) == (chat_id, page)


@pytest.mark.parametrize("value", ["", "g", "m100", "g-100", "gm", "g1_", "g1_POINTS", "x1"])
def test_start_param_refuses_other_values(value: str) -> None:
    with pytest.raises(InitDataError) as caught:
        parse_start_param(value)
    assert caught.value.reason == "bad_start_param"
