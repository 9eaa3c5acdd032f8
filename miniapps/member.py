"""The members' Mini App pages: my points, the leaderboard, my wallets, claims, the apps.

Pages are static shells: no member data is rendered on the server, because the member is known
only after the page's JS has exchanged `Telegram.WebApp.initData` for a session token. The JS
writes every value with `textContent`, so names can never become markup.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from core.settings import Settings

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC = {"miniapp.js": "text/javascript", "miniapp.css": "text/css"}
TELEGRAM_SCRIPT = "https://telegram.org/js/telegram-web-app.js"
LOCAL_SCRIPT = "/static/telegram-web-app.js"
PAGES = {
    "points": "My points",
    "leaderboard": "Leaderboard",
    "wallets": "My wallets",
    "claims": "Claims",
    "apps": "Apps",
}


def content_security_policy(settings: Settings) -> str:
    """Self only; in production Telegram's own SDK script and web clients' frames too."""
    script = "'self'" if settings.is_sandbox else "'self' https://telegram.org"
    ancestors = "'self'" if settings.is_sandbox else "'self' https://web.telegram.org"
    return (
        f"default-src 'none'; script-src {script}; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors {ancestors}"
    )


def headers(settings: Settings) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(settings),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        # initData travels in the URL fragment; nothing about the page is member-specific.
        "Cache-Control": "no-cache",
    }


def create_member_router() -> APIRouter:
    router = APIRouter(tags=["miniapps"])
    templates = Jinja2Templates(directory=TEMPLATES)

    @router.get("/static/telegram-web-app.js", include_in_schema=False)
    async def sdk() -> FileResponse:
        return FileResponse(STATIC_DIR / "telegram-web-app.js", media_type="text/javascript")

    @router.get("/miniapp/static/{name}", include_in_schema=False)
    async def static(name: str) -> FileResponse:
        if name not in STATIC:
            raise HTTPException(404)
        return FileResponse(STATIC_DIR / name, media_type=STATIC[name])

    @router.get("/miniapp", include_in_schema=False)
    async def index() -> RedirectResponse:
        return RedirectResponse("/miniapp/points", 307)

    @router.get("/miniapp/{page}", response_class=HTMLResponse, include_in_schema=False)
    async def page(request: Request, page: str) -> Any:
        if page not in PAGES:
            raise HTTPException(404)
        settings: Settings = request.app.state.gateway.settings
        return templates.TemplateResponse(
            request,
            "miniapps/page.html",
            {
                "page": page,
                "title": PAGES[page],
                "pages": PAGES,
                "sdk": LOCAL_SCRIPT if settings.is_sandbox else TELEGRAM_SCRIPT,
            },
            headers=headers(settings),
        )

    return router
