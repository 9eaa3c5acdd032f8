"""Mini App authentication: initData in, a short-lived gateway session token out.

`POST /miniapp/session` verifies the page's `Telegram.WebApp.initData` with the bot token. A
launch from a group carries the group in `start_param` (our `/app` links put it there), and the
member must belong to that group in our database: Telegram signs who launched, not where they
belong. Every JSON call after that sends the token as `Authorization: Bearer`; `CurrentMember`
checks it offline against the gateway's Ed25519 key, whose public half is at
`/.well-known/jwks.json` for builders' backends.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.models import Membership
from core.models_miniapps import MiniApp
from core.settings import Settings
from miniapps.auth import InitDataError, verify_init_data
from miniapps.tokens import TokenClaims, TokenError, TokenIssuer

AUDIENCE = "townsquare"
SCOPES = ("points:read", "wallets:read")
APP_SCOPES = ("events:write",)
SESSION_TTL = 900
KEY_FILE = "session_key"
# Telegram allows A-Za-z0-9_- and 64 characters in start_param; "m" stands for the minus sign
# of group ids, and an optional "_<page>" names the page to open.
_START = re.compile(r"g(m?)([0-9]{1,19})(?:_([a-z]{1,16}))?")
GONE = frozenset({"left", "kicked"})


@dataclass(frozen=True)
class StartParam:
    chat_id: int
    page: str | None = None


def start_param_for(chat_id: int, page: str | None = None) -> str:
    """The `startapp` value that launches the Mini App for group `chat_id` (and a page)."""
    text = f"gm{-chat_id}" if chat_id < 0 else f"g{chat_id}"
    return f"{text}_{page}" if page else text


def parse_start_param(value: str) -> StartParam:
    """Reads a `start_param` made by `start_param_for`; raises `InitDataError` otherwise."""
    match = _START.fullmatch(value)
    if match is None:
        raise InitDataError("bad_start_param", "start_param does not name a group")
    number = int(match[2])
    return StartParam(-number if match[1] else number, match[3])


def _key_id(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _stored_seed(path: Path) -> bytes:
    """The seed file's 32 bytes, created once with owner-only permissions."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        seed = path.read_bytes()
        if len(seed) != 32:
            raise ValueError(f"{path} does not hold a 32-byte Ed25519 seed") from None
        return seed
    seed = os.urandom(32)
    with os.fdopen(fd, "wb") as handle:
        handle.write(seed)
    return seed


def load_issuer(settings: Settings) -> TokenIssuer:
    """The session-token issuer: from `TOWNSQUARE_TOKEN_SEED`, else from the key file."""
    configured = settings.token_seed.get_secret_value().strip()
    if configured:
        seed = bytes.fromhex(configured)
    else:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        seed = _stored_seed(settings.data_dir / KEY_FILE)
    key = Ed25519PrivateKey.from_private_bytes(seed)
    return TokenIssuer(key, _key_id(key))


def get_issuer(request: Request) -> TokenIssuer:
    """One issuer per app, made on first use (the key file is read once)."""
    issuer: TokenIssuer | None = getattr(request.app.state, "token_issuer", None)
    if issuer is None:
        issuer = load_issuer(request.app.state.gateway.settings)
        request.app.state.token_issuer = issuer
    return issuer


async def is_member(*, session: AsyncSession, chat_id: int, member_id: int) -> bool:
    # A Core read of the one column: every Mini App call asks, and the ORM's get costs more.
    t = Membership.__table__  # type: ignore[attr-defined]
    stmt = select(t.c.status).where(t.c.chat_id == chat_id, t.c.member_id == member_id)
    status = (await (await session.connection()).execute(stmt)).scalar()
    return status is not None and status not in GONE


async def app_is_live(*, session: AsyncSession, app_id: str) -> bool:
    app = await session.get(MiniApp, app_id)
    return app is not None and app.revoked_at is None


@dataclass(frozen=True)
class MemberIdentity:
    """Who calls a Mini App API, and the group the session is bound to (None: private)."""

    member_id: int
    chat_id: int | None
    claims: TokenClaims


def refuse(status: int, reason: str) -> HTTPException:
    return HTTPException(status, detail={"reason": reason})


def bearer_claims(request: Request, issuer: TokenIssuer, *, audience: str) -> TokenClaims:
    """The verified claims of the request's `Authorization: Bearer` token, or a 401."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise refuse(401, "missing_token")
    try:
        claims = issuer.verify(token.strip(), audience=audience)
    except TokenError as exc:
        raise refuse(401, exc.reason) from exc
    if not claims.subject.isdigit():
        raise refuse(401, "malformed")
    return claims


async def current_member(
    request: Request, issuer: Annotated[TokenIssuer, Depends(get_issuer)]
) -> MemberIdentity:
    claims = bearer_claims(request, issuer, audience=AUDIENCE)
    return MemberIdentity(int(claims.subject), claims.chat_id, claims)


CurrentMember = Annotated[MemberIdentity, Depends(current_member)]
Issuer = Annotated[TokenIssuer, Depends(get_issuer)]


class SessionIn(BaseModel):
    init_data: str = Field(min_length=1, max_length=8192)
    # A builder's Mini App asks for a token addressed to itself (its backend reports events).
    app_id: str | None = Field(default=None, min_length=1, max_length=32)


class SessionOut(BaseModel):
    token: str
    expires_in: int
    member_id: int
    first_name: str
    chat_id: int | None
    page: str | None


def create_session_router() -> APIRouter:
    """`POST /miniapp/session` and the JWKS document."""
    router = APIRouter(tags=["miniapps"])

    @router.post("/miniapp/session", response_model=SessionOut)
    async def session(request: Request, body: SessionIn, issuer: Issuer) -> Any:
        gateway = request.app.state.gateway
        settings: Settings = gateway.settings
        try:
            data = verify_init_data(
                body.init_data,
                bot_token=settings.bot_token.get_secret_value(),
                max_age=settings.init_data_max_age,
            )
            if data.user is None:
                raise InitDataError("no_user", "initData names no user")
            start = parse_start_param(data.start_param) if data.start_param else None
        except InitDataError as exc:
            return JSONResponse({"reason": exc.reason}, 401)
        if body.app_id is not None or start is not None:
            async with gateway.sessions() as db:
                if body.app_id is not None and not await app_is_live(
                    session=db, app_id=body.app_id
                ):
                    return JSONResponse({"reason": "unknown_app"}, 404)
                if start is not None and not await is_member(
                    session=db, chat_id=start.chat_id, member_id=data.user.id
                ):
                    return JSONResponse({"reason": "not_a_member"}, 403)
        chat_id = start.chat_id if start else None
        token = issuer.issue(
            subject=str(data.user.id),
            audience=body.app_id or AUDIENCE,
            chat_id=chat_id,
            scopes=APP_SCOPES if body.app_id else SCOPES,
            ttl=SESSION_TTL,
        )
        return SessionOut(
            token=token,
            expires_in=SESSION_TTL,
            member_id=data.user.id,
            first_name=data.user.first_name,
            chat_id=chat_id,
            page=start.page if start else None,
        )

    @router.get("/.well-known/jwks.json")
    async def jwks(issuer: Issuer) -> JSONResponse:
        return JSONResponse(issuer.jwks(), headers={"Cache-Control": "public, max-age=300"})

    return router
