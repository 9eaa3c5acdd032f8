"""`POST /telegram/webhook`: acknowledge an update only once it is durably handled."""

from __future__ import annotations

import hmac
import logging
from typing import Annotated

import orjson
from aiogram import Bot, Dispatcher
from aiogram.types import Update
from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

log = logging.getLogger(__name__)


def create_webhook_router(*, dp: Dispatcher, bot: Bot, secret: str, max_body: int) -> APIRouter:
    router = APIRouter(tags=["telegram"])
    expected = secret.encode()

    @router.post(
        "/telegram/webhook",
        responses={400: {}, 403: {}, 413: {}, 503: {}},
        summary="Receive a Telegram update",
    )
    async def webhook(
        request: Request,
        x_telegram_bot_api_secret_token: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        given = (x_telegram_bot_api_secret_token or "").encode()
        if not hmac.compare_digest(given, expected):
            log.warning("webhook call with a missing or wrong secret token")
            return JSONResponse({"ok": False, "error": "forbidden"}, status_code=403)
        body = await request.body()
        if len(body) > max_body:
            log.warning("webhook body of %d bytes refused", len(body))
            return JSONResponse({"ok": False, "error": "too large"}, status_code=413)
        try:
            update = Update.model_validate(orjson.loads(body), context={"bot": bot})
        except (orjson.JSONDecodeError, ValidationError) as exc:
            log.warning("malformed webhook body refused: %s", str(exc).splitlines()[0])
            return JSONResponse({"ok": False, "error": "malformed update"}, status_code=400)
        try:
            await dp.feed_update(bot, update)
        except Exception:
            # Not acknowledged: Telegram delivers the update again, and the
            # processed-updates key makes sure it is counted once.
            log.exception("update %s failed; left for Telegram to retry", update.update_id)
            return JSONResponse({"ok": False, "error": "try again"}, status_code=503)
        return JSONResponse({"ok": True})

    return router
