"""The builder API (`/v1`): a builder's backend reads a member's profile, points and, with the
member's consent, wallets, and reports engagement events that the group's rules turn into points.

Every call carries the app's credentials (`Authorization: Basic base64(app_id:secret)`) and a
member token the gateway issued to that app (`X-Member-Token`, or `member_token` in an event),
so an app can speak only for members who opened it. Calls are rate-limited per app.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.security import HTTPBasic
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import utcnow
from core.db import transaction
from core.models import Member
from core.models_builder import GroupApp
from core.models_engagement import LedgerEntry
from core.models_miniapps import MiniApp, hash_secret
from engagement import epochs, grants, ledger, sql
from miniapps import consent, registry
from miniapps.api import chat_json, epoch_json, points_json, wallets_json
from miniapps.deps import Issuer, is_member, refuse
from miniapps.ratelimit import Limiter, create_limiter, retry_after
from miniapps.tokens import TokenClaims, TokenError

MemberTokenHeader = Annotated[str, Header(alias="X-Member-Token", min_length=1, max_length=4096)]
IdempotencyKey = Annotated[str, Header(alias="Idempotency-Key", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]


class EventIn(BaseModel):
    member_token: str = Field(min_length=1, max_length=4096)
    event: str = Field(pattern=r"^[a-z0-9_]{1,28}$")
    occurred_at: datetime | None = None


def parse_basic(header: str) -> tuple[str, str]:
    """`Basic base64(app_id:secret)` -> (app_id, secret); 401 for anything else."""
    scheme, _, encoded = header.partition(" ")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise refuse(401, "bad_app_credentials") from exc
    app_id, colon, secret = decoded.partition(":")
    if scheme.lower() != "basic" or not colon or not app_id or not secret:
        raise refuse(401, "bad_app_credentials")
    return app_id, secret


class AppCredentials(HTTPBasic):
    """HTTP Basic as the OpenAPI document shows it, with our own refusals."""

    async def __call__(self, request: Request) -> tuple[str, str]:  # type: ignore[override]
        return parse_basic(request.headers.get("authorization", ""))


Credentials = Annotated[
    tuple[str, str], Depends(AppCredentials(scheme_name="app", description="app_id:secret"))
]


async def checked_app(session: AsyncSession, app_id: str, secret: str) -> MiniApp:
    app = await session.get(MiniApp, app_id[:32])
    # Compared even for an unknown app, so timing does not tell which app ids exist.
    stored = app.secret_hash if app is not None else hash_secret("")
    if not hmac.compare_digest(stored, hash_secret(secret)) or app is None:
        raise refuse(401, "bad_app_credentials")
    if app.revoked_at is not None:
        raise refuse(401, "app_revoked")
    return app


def limiter_of(request: Request) -> Limiter | None:
    """The app's limiter, made on first use from the settings (None: limits turned off)."""
    state = request.app.state
    if not hasattr(state, "builder_limiter"):
        gateway = state.gateway
        rate = gateway.settings.builder_rate_per_second
        state.builder_limiter = (
            create_limiter(
                getattr(gateway, "redis", None),
                rate=rate,
                burst=gateway.settings.builder_rate_burst,
            )
            if rate > 0
            else None
        )
    limiter: Limiter | None = state.builder_limiter
    return limiter


async def authenticated_app(request: Request, credentials: Credentials) -> MiniApp:
    """The calling app, after its secret and then its rate limit are checked."""
    async with request.app.state.gateway.sessions() as session:
        app = await checked_app(session, *credentials)
    limiter = limiter_of(request)
    wait = await limiter.check(app.id) if limiter is not None else 0.0
    if wait > 0:
        seconds = retry_after(wait)
        raise HTTPException(
            429, detail={"reason": "rate_limited"}, headers={"Retry-After": str(seconds)}
        )
    return app


CallingApp = Annotated[MiniApp, Depends(authenticated_app)]


@dataclass(frozen=True)
class AppMember:
    app: MiniApp
    member_id: int
    chat_id: int | None
    claims: TokenClaims


def member_of(issuer: Any, app: MiniApp, token: str) -> AppMember:
    """The member an app's token names; 403 for a token of another app or a broken one."""
    try:
        claims = issuer.verify(token, audience=app.id)
    except TokenError as exc:
        raise refuse(403, f"member_token_{exc.reason}") from exc
    if not claims.subject.isdigit():
        raise refuse(403, "member_token_malformed")
    return AppMember(app, int(claims.subject), claims.chat_id, claims)


async def in_group(session: AsyncSession, who: AppMember) -> int:
    """The token's group, where the member still is and the app is enabled."""
    if who.chat_id is None:
        raise refuse(403, "member_token_without_group")
    if not await is_member(session=session, chat_id=who.chat_id, member_id=who.member_id):
        raise refuse(403, "not_a_member")
    if await registry.enabled(session=session, chat_id=who.chat_id, app_id=who.app.id) is None:
        raise refuse(403, "app_not_enabled")
    return who.chat_id


async def current_app_member(
    app: CallingApp, issuer: Issuer, token: MemberTokenHeader
) -> AppMember:
    return member_of(issuer, app, token.strip())


Who = Annotated[AppMember, Depends(current_app_member)]


async def event_outcome(session: AsyncSession, *, chat_id: int, cause: str) -> Any:
    t = LedgerEntry.__table__  # type: ignore[attr-defined]
    rows = await sql.rows(
        session,
        select(t.c.member_id, t.c.rule, t.c.points, t.c.reason).where(
            t.c.chat_id == chat_id, t.c.cause == cause
        ),
    )
    return rows[0] if rows else None


def create_builder_router() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["builders"])

    @router.get("/me")
    async def me(request: Request, who: Who) -> Any:
        """The member's public profile and the group the app was opened from."""
        async with request.app.state.gateway.sessions() as session:
            member = await session.get(Member, who.member_id)
            if member is None:
                raise refuse(404, "unknown_member")
            chat = await chat_json(session, who.chat_id) if who.chat_id is not None else None
        return {
            "id": member.id,
            "first_name": member.first_name,
            "last_name": member.last_name,
            "username": member.username,
            "language_code": member.language_code,
            "chat": chat,
        }

    @router.get("/points")
    async def points(request: Request, who: Who) -> Any:
        """The member's points in the group's open epoch, with the ledger entries behind them."""
        async with request.app.state.gateway.sessions() as session:
            chat_id = await in_group(session, who)
            epoch = await epochs.current(session=session, chat_id=chat_id)
            body = {"chat": await chat_json(session, chat_id), "epoch": epoch_json(epoch)}
            if epoch is None:
                return {**body, "points": 0, "rank": None, "entries": []}
            full = await points_json(session, chat_id=chat_id, epoch=epoch, member_id=who.member_id)
        return body | {k: full[k] for k in ("points", "rank", "by_rule", "entries")}

    @router.get("/wallets")
    async def wallets(request: Request, who: Who) -> Any:
        """The member's linked wallets, once the member allowed this app on the consent screen."""
        async with request.app.state.gateway.sessions() as session:
            if not await consent.has_consent(
                session=session,
                member_id=who.member_id,
                app_id=who.app.id,
                scope=consent.WALLETS_READ,
            ):
                raise refuse(403, "consent_required")
            return await wallets_json(session, who.member_id)

    @router.post("/events")
    async def events(
        request: Request, body: EventIn, app: CallingApp, issuer: Issuer, key: IdempotencyKey
    ) -> Any:
        """An engagement event, credited by the group's `app_events` rules within the app's cap,
        once per `Idempotency-Key`; over the cap it is recorded with 0 points and the reason."""
        who = member_of(issuer, app, body.member_token.strip())
        cause = ledger.app_cause(app.id, key)[:96]
        async with transaction(request.app.state.gateway.sessions) as session:
            chat_id = await in_group(session, who)
            # Locks the app's grant in the group (PostgreSQL): two events of one app cannot both
            # see room under the cap and both take it.
            lock = (
                select(GroupApp.__table__)  # type: ignore[attr-defined]
                .where(
                    GroupApp.__table__.c.chat_id == chat_id,  # type: ignore[attr-defined]
                    GroupApp.__table__.c.app_id == app.id,  # type: ignore[attr-defined]
                )
                .with_for_update()
            )
            granted = (await sql.rows(session, lock))[0]
            await grants.app_event(
                session=session,
                chat_id=chat_id,
                member_id=who.member_id,
                app_id=app.id,
                event_id=key,
                name=body.event,
                at=body.occurred_at or utcnow(),
                cap=int(granted.cap),
            )
            outcome = await event_outcome(session, chat_id=chat_id, cause=cause)
        if outcome is None:
            return {"status": "no_points", "points": 0}
        owner, rule, points, reason = outcome
        if owner != who.member_id or rule != f"app:{body.event}"[:32]:
            raise refuse(409, "idempotency_key_reused")
        if reason:
            return {"status": "not_credited", "points": 0, "reason": reason}
        return {"status": "credited", "points": int(points)}

    return router
