"""The Bot API router: `/sandbox/bot{token}/{method}` speaking Telegram's wire format.

Answers are `{"ok": true, "result": ...}` or `{"ok": false, "error_code": ..., "description":
...}` with Telegram's HTTP statuses (401 unknown token, 404 unknown method, 429 flood).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from bot.sandbox import state_updates
from bot.sandbox.botapi_chats import CHAT_METHODS
from bot.sandbox.botapi_methods import METHODS, Call
from bot.sandbox.errors import SandboxError, too_many_requests
from bot.sandbox.params import Params
from bot.sandbox.state_core import get_bot

if TYPE_CHECKING:
    from bot.sandbox.app import Sandbox

log = logging.getLogger(__name__)
ALL_METHODS = {**METHODS, **CHAT_METHODS}
MAX_POLL_TIMEOUT = 50
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete "
    "the webhook first"
)
POLL_CONFLICT = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is "
    "running"
)


async def dispatch(sandbox: Sandbox, token: str, method: str, params: Params) -> Any:
    """Runs one Bot API call for the bot owning `token`; raises SandboxError on refusal."""
    bot_id = await sandbox.authorize(token)
    name = method.lower()
    if name == "getupdates":
        return await get_updates(sandbox, bot_id, params)
    if name in ("setwebhook", "deletewebhook"):
        return await set_webhook(sandbox, bot_id, params, delete=name == "deletewebhook")
    handler = ALL_METHODS.get(name)
    if handler is None:
        raise SandboxError("Not Found", 404)
    if name == "sendmessage":
        chat = params.chat_id()
        retry_after = sandbox.limiter.check(chat, group=isinstance(chat, str) or chat < 0)
        if retry_after is not None:
            raise too_many_requests(retry_after)

    async def work(session: Any) -> Any:
        bot = await get_bot(session=session, bot_id=bot_id)
        call = Call(session=session, bot=bot, p=params, chat_actions=sandbox.chat_actions)
        return await handler(call)

    return await sandbox.run(work)


async def get_updates(sandbox: Sandbox, bot_id: int, params: Params) -> list[dict[str, Any]]:
    """Long polling: waits up to `timeout` seconds for an update, confirming below `offset`."""
    offset = params.opt_int("offset")
    limit = params.opt_int("limit") or state_updates.MAX_LIMIT
    timeout = max(0, min(params.opt_int("timeout") or 0, MAX_POLL_TIMEOUT))
    allowed = params.list_of_str("allowed_updates")
    generation = sandbox.poll_generation[bot_id] = sandbox.poll_generation.get(bot_id, 0) + 1
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    first = True
    while True:
        signal = sandbox.signal()

        async def poll(session: Any, first: bool = first) -> list[dict[str, Any]] | None:
            bot = await get_bot(session=session, bot_id=bot_id)
            if bot.webhook_url:
                return None
            if first:
                await state_updates.set_allowed_updates(session=session, bot=bot, allowed=allowed)
            return await state_updates.get_updates(
                session=session, bot_id=bot_id, offset=offset, limit=limit
            )

        result = await sandbox.run(poll)
        if result is None:
            raise SandboxError(WEBHOOK_CONFLICT, 409)
        first = False
        remaining = deadline - loop.time()
        if result or remaining <= 0:
            return result
        if sandbox.poll_generation.get(bot_id) != generation:
            raise SandboxError(POLL_CONFLICT, 409)
        await sandbox.wait_signal(signal, min(remaining, sandbox.poll_interval))


async def set_webhook(sandbox: Sandbox, bot_id: int, params: Params, *, delete: bool) -> bool:
    async def work(session: Any) -> bool:
        return await state_updates.set_webhook(
            session=session,
            bot_id=bot_id,
            url="" if delete else (params.opt_str("url") or ""),
            secret_token=None if delete else params.opt_str("secret_token"),
            allowed_updates=None if delete else params.list_of_str("allowed_updates"),
            drop_pending_updates=params.flag("drop_pending_updates"),
            max_connections=None if delete else params.opt_int("max_connections"),
        )

    result = await sandbox.run(work)
    sandbox.delivery.reset(bot_id)
    sandbox.wake()
    return result


def error_response(error: SandboxError) -> JSONResponse:
    return JSONResponse(error.payload(), status_code=error.code)


def create_botapi_router(sandbox: Sandbox) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.api_route("/sandbox/bot{token}/{method}", methods=["GET", "POST"])
    async def bot_api(token: str, method: str, request: Request) -> JSONResponse:
        try:
            params = await Params.from_request(request)
            result = await dispatch(sandbox, token, method, params)
        except SandboxError as error:
            return error_response(error)
        except Exception:
            # Still Telegram's envelope, so a client reports a server error, not a decode error.
            log.exception("sandbox Bot API call %s failed", method)
            return error_response(SandboxError("Internal Server Error", 500))
        return JSONResponse({"ok": True, "result": result})

    @router.api_route("/sandbox/file/bot{token}/{path:path}", methods=["GET"])
    async def bot_file(token: str, path: str) -> JSONResponse:
        return error_response(SandboxError("Not Found", 404))

    return router
