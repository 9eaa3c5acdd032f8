"""Opening a builder's app from the group's catalogue: our page hands the app a token, never
Telegram's initData.

initData is the member's key to every audience of the gateway, the gateway's own included (the
consent screen): a builder's page that held it could mint itself a gateway session and allow
itself the member's wallets. So the catalogue asks here for a token addressed to the app, for
the member and the group the page was opened from, and passes only that to the app's page (in
the URL fragment, which is never sent to a server); `/sdk.js` picks it up from there.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from core.models import Member
from miniapps import registry
from miniapps.api import ChatQuery, group_for
from miniapps.consent import AppId
from miniapps.deps import APP_SCOPES, SESSION_TTL, CurrentMember, Issuer, refuse


def create_launch_router() -> APIRouter:
    router = APIRouter(tags=["miniapps"])

    @router.post("/miniapp/api/apps/{app_id}/token")
    async def app_token(
        request: Request,
        who: CurrentMember,
        issuer: Issuer,
        app_id: AppId,
        chat_id: ChatQuery = None,
    ) -> Any:
        """A token for the app, bound to the member and the group, if the group enabled it."""
        async with request.app.state.gateway.sessions() as session:
            chat = await group_for(session, who, chat_id)
            if chat is None:
                raise refuse(403, "member_token_without_group")
            if await registry.enabled(session=session, chat_id=chat, app_id=app_id) is None:
                raise refuse(403, "app_not_enabled")
            if await registry.live_app(session=session, app_id=app_id) is None:
                raise refuse(404, "unknown_app")
            member = await session.get(Member, who.member_id)
        token = issuer.issue(
            subject=str(who.member_id),
            audience=app_id,
            chat_id=chat,
            scopes=APP_SCOPES,
            ttl=SESSION_TTL,
        )
        return {
            "token": token,
            "expires_in": SESSION_TTL,
            "member_id": who.member_id,
            "first_name": member.first_name if member is not None else "",
            "chat_id": chat,
        }

    return router
