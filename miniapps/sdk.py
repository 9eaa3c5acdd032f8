"""`/sdk.js`, the builders' JS SDK, and the one cross-origin door it needs.

A builder's page lives on the builder's origin and calls `POST /miniapp/session` on ours to
turn Telegram's initData into a token addressed to the app. That endpoint takes no cookies
and trusts only the signed initData in the body, so any origin may call it: the preflight is
answered here and every answer carries `Access-Control-Allow-Origin: *`. No other route is
opened to other origins.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import FileResponse

from miniapps.member import STATIC_DIR

SESSION_PATH = "/miniapp/session"
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "600",
}


def create_sdk_router() -> APIRouter:
    router = APIRouter(tags=["builders"])

    @router.get("/sdk.js", include_in_schema=False)
    async def sdk() -> FileResponse:
        return FileResponse(
            STATIC_DIR / "sdk.js",
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=300", **CORS},
        )

    return router


def install_session_cors(app: FastAPI) -> None:
    @app.middleware("http")
    async def session_cors(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if request.url.path != SESSION_PATH:
            return await call_next(request)
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=CORS)
        response = await call_next(request)
        response.headers.update(CORS)
        return response
