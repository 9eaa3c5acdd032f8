"""`POST /telegram/webhook`: acknowledge an update only once it is durably handled.

The endpoint is plain ASGI, answered by the app before its own middleware stack (`WebhookApp`):
it is the gateway's hottest path, and FastAPI's routing, dependency solving and response classes
would cost more than the update's own work, as would a pass through the stack's error pages,
telemetry and body limits, which the webhook does without (it answers every failure itself and
reads at most `max_body` bytes). FastAPI still documents the route (`/openapi.json`).
"""

from __future__ import annotations

import hmac
import logging
from typing import Annotated, Any

import orjson
from aiogram import Bot, Dispatcher
from aiogram.types import Update
from fastapi import APIRouter, FastAPI, Header
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.types import Receive, Scope, Send

from bot.routes import add_routes

log = logging.getLogger(__name__)
PATH = "/telegram/webhook"
SECRET_HEADER = b"x-telegram-bot-api-secret-token"


def _reply(status: int, payload: dict[str, Any]) -> tuple[int, bytes]:
    return status, orjson.dumps(payload)


OK = _reply(200, {"ok": True})
FORBIDDEN = _reply(403, {"ok": False, "error": "forbidden"})
TOO_LARGE = _reply(413, {"ok": False, "error": "too large"})
MALFORMED = _reply(400, {"ok": False, "error": "malformed update"})
TRY_AGAIN = _reply(503, {"ok": False, "error": "try again"})


class WebhookApp(FastAPI):
    """A FastAPI app whose webhook (set by `mount_webhook`) is answered before its middleware
    stack; every other request goes through the stack as usual."""

    webhook: WebhookEndpoint | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        webhook = self.webhook
        if webhook is not None and webhook.takes(scope):
            await webhook(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


class WebhookEndpoint:
    """Serves `POST /telegram/webhook`."""

    def __init__(self, *, dp: Dispatcher, bot: Bot, secret: str, max_body: int) -> None:
        self.dp = dp
        self.bot = bot
        self.expected = secret.encode()
        self.max_body = max_body

    @staticmethod
    def takes(scope: Scope) -> bool:
        return scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "POST"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status, body = await self.handle(scope, receive)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def handle(self, scope: Scope, receive: Receive) -> tuple[int, bytes]:
        given = next((v for k, v in scope["headers"] if k == SECRET_HEADER), b"")
        if not hmac.compare_digest(given, self.expected):
            log.warning("webhook call with a missing or wrong secret token")
            return FORBIDDEN
        body = await self.read_body(receive)
        if body is None:
            return TOO_LARGE
        try:
            update = Update.model_validate_json(body, context={"bot": self.bot})
        except ValidationError as exc:
            log.warning("malformed webhook body refused: %s", str(exc).splitlines()[0])
            return MALFORMED
        try:
            await self.dp.feed_update(self.bot, update)
        except Exception:
            # Not acknowledged: Telegram delivers the update again, and the
            # processed-updates key makes sure it is counted once.
            log.exception("update %s failed; left for Telegram to retry", update.update_id)
            return TRY_AGAIN
        return OK

    async def read_body(self, receive: Receive) -> bytes | None:
        """The request body, or None (and the rest unread) once it exceeds the limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                log.warning("webhook body over %d bytes refused", self.max_body)
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def documented_route() -> APIRouter:
    """The route as `/openapi.json` describes it; `WebhookEndpoint` answers the calls."""
    router = APIRouter(tags=["telegram"])

    @router.post(PATH, responses={400: {}, 403: {}, 413: {}, 503: {}}, summary="Receive an update")
    async def webhook(
        update: dict[str, Any],
        x_telegram_bot_api_secret_token: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        return JSONResponse({"ok": False, "error": "forbidden"}, status_code=403)

    return router


def mount_webhook(app: WebhookApp, *, dp: Dispatcher, bot: Bot, secret: str, max_body: int) -> None:
    """Adds the webhook endpoint to the app, and its description to the app's schema."""
    add_routes(app, documented_route())
    app.webhook = WebhookEndpoint(dp=dp, bot=bot, secret=secret, max_body=max_body)
