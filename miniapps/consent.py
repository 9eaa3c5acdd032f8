"""The consent screen: a member lets a builder app read their linked wallets, and takes it back.

The page is one of ours (`/miniapp/consent?app=<id>`), opened inside Telegram like the other
member Mini Apps and authenticated the same way (initData -> a gateway session), so an app can
never grant itself a consent: only a session issued for the gateway's own audience may.
`/v1/wallets` answers 403 until the member has granted `wallets:read` to that app.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import utcnow
from core.db import transaction
from core.models_builder import AppConsent
from core.models_miniapps import MiniApp
from core.settings import Settings
from miniapps.deps import CurrentMember, refuse
from miniapps.member import LOCAL_SCRIPT, TELEGRAM_SCRIPT, TEMPLATES, headers
from miniapps.registry import live_app

WALLETS_READ = "wallets:read"
# What the screen tells the member each scope gives away.
SCOPES = {WALLETS_READ: "see the addresses of the wallets you linked (never your keys)"}
STATIC = {"consent.js": "text/javascript"}
AppId = Annotated[str, PathParam(pattern=r"^[A-Za-z0-9_]{1,32}$")]


async def has_consent(*, session: AsyncSession, member_id: int, app_id: str, scope: str) -> bool:
    row = await session.get(AppConsent, (member_id, app_id, scope))
    return row is not None and row.revoked_at is None


async def grant(*, session: AsyncSession, member_id: int, app_id: str, scope: str) -> None:
    row = await session.get(AppConsent, (member_id, app_id, scope))
    if row is None:
        row = AppConsent(member_id=member_id, app_id=app_id, scope=scope)
    else:
        row.granted_at, row.revoked_at = utcnow(), None
    session.add(row)
    await session.flush()


async def revoke(*, session: AsyncSession, member_id: int, app_id: str, scope: str) -> bool:
    """Takes a consent back; False when there was none to take."""
    row = await session.get(AppConsent, (member_id, app_id, scope))
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    session.add(row)
    await session.flush()
    return True


async def consents_of(*, session: AsyncSession, member_id: int) -> list[dict[str, Any]]:
    """The member's live consents, for the list on the consent screen."""
    stmt = (
        select(AppConsent.app_id, MiniApp.name, AppConsent.scope, AppConsent.granted_at)
        .join(MiniApp, col(MiniApp.id) == col(AppConsent.app_id))
        .where(col(AppConsent.member_id) == member_id, col(AppConsent.revoked_at).is_(None))
        .order_by(col(MiniApp.name), col(AppConsent.app_id))
    )
    return [
        {"app_id": app_id, "name": name, "scope": scope, "granted_at": at.isoformat()}
        for app_id, name, scope, at in (await session.exec(stmt)).all()
    ]


async def consent_json(session: AsyncSession, member_id: int, app: MiniApp) -> dict[str, Any]:
    return {
        "app": {"id": app.id, "name": app.name},
        "scope": WALLETS_READ,
        "explains": SCOPES[WALLETS_READ],
        "granted": await has_consent(
            session=session, member_id=member_id, app_id=app.id, scope=WALLETS_READ
        ),
    }


async def app_or_404(session: AsyncSession, app_id: str) -> MiniApp:
    app = await live_app(session=session, app_id=app_id)
    if app is None:
        raise refuse(404, "unknown_app")
    return app


def create_consent_router() -> APIRouter:
    router = APIRouter(tags=["miniapps"])
    templates = Jinja2Templates(directory=TEMPLATES)

    @router.get("/miniapp/consent", response_class=HTMLResponse, include_in_schema=False)
    async def page(request: Request) -> Any:
        settings: Settings = request.app.state.gateway.settings
        return templates.TemplateResponse(
            request,
            "consent/page.html",
            {"sdk": LOCAL_SCRIPT if settings.is_sandbox else TELEGRAM_SCRIPT},
            headers=headers(settings),
        )

    @router.get("/miniapp/consent/static/{name}", include_in_schema=False)
    async def static(name: str) -> FileResponse:
        if name not in STATIC:
            raise HTTPException(404)
        return FileResponse(TEMPLATES / "consent" / name, media_type=STATIC[name])

    @router.get("/miniapp/api/consents")
    async def mine(request: Request, who: CurrentMember) -> Any:
        async with request.app.state.gateway.sessions() as session:
            return {"consents": await consents_of(session=session, member_id=who.member_id)}

    @router.get("/miniapp/api/consents/{app_id}")
    async def read(request: Request, who: CurrentMember, app_id: AppId) -> Any:
        async with request.app.state.gateway.sessions() as session:
            return await consent_json(session, who.member_id, await app_or_404(session, app_id))

    @router.put("/miniapp/api/consents/{app_id}")
    async def allow(request: Request, who: CurrentMember, app_id: AppId) -> Any:
        async with transaction(request.app.state.gateway.sessions) as session:
            app = await app_or_404(session, app_id)
            await grant(session=session, member_id=who.member_id, app_id=app.id, scope=WALLETS_READ)
            return await consent_json(session, who.member_id, app)

    @router.delete("/miniapp/api/consents/{app_id}")
    async def withdraw(request: Request, who: CurrentMember, app_id: AppId) -> Any:
        async with transaction(request.app.state.gateway.sessions) as session:
            app = await app_or_404(session, app_id)
            await revoke(
                session=session, member_id=who.member_id, app_id=app.id, scope=WALLETS_READ
            )
            return await consent_json(session, who.member_id, app)

    return router
