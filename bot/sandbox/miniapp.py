"""The sandbox plays Telegram's client when a Mini App opens: it signs the launch's initData.

`POST /sandbox/ui/webapp/init` takes the web chat's user and chat and the button's target: a
`web_app` URL (private chats) or a direct link `https://t.me/<bot>/<app>?startapp=<param>`
(groups). It answers the page URL to load and the initData Telegram would hand it, signed with
the bot token through `miniapps.initdata_sign`, which the gateway's real verifier checks.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from bot.sandbox.state_core import get_chat, get_user
from bot.sandbox.views import user_json
from bot.sandbox.webchat_messages import Id
from miniapps.initdata_sign import sign_init_data

if TYPE_CHECKING:
    from bot.sandbox.app import Sandbox

# Direct links name a Mini App by the bot's username and the app's short name (BotFather).
DIRECT_LINK = re.compile(r"https://t\.me/([A-Za-z0-9_]{4,32})/([A-Za-z0-9_]{3,30})(\?.*)?")
# The sandbox bot's Mini Apps, as if registered with BotFather: their pages on our gateway.
DIRECT_APPS = {"app": "/miniapp/points", "dashboard": "/miniapp/dashboard"}
START_PARAM = re.compile(r"[A-Za-z0-9_-]{1,64}")


class WebAppLaunch(BaseModel):
    user_id: Id
    chat_id: Id
    url: str = Field(min_length=1, max_length=2048)


class WebAppInit(BaseModel):
    url: str
    init_data: str


def chat_instance(chat_id: int, bot_id: int) -> str:
    """A stable opaque number per chat and bot, as Telegram's `chat_instance` is."""
    digest = hashlib.sha256(f"{bot_id}:{chat_id}".encode()).digest()
    return str(int.from_bytes(digest[:8], "big") >> 1)


def resolve(url: str, *, base_url: str, bot_username: str | None) -> tuple[str, str | None]:
    """The page to load and the start_param, or a 400 for links this sandbox can't open."""
    link = DIRECT_LINK.fullmatch(url)
    if link is not None:
        if bot_username is None or link[1].lower() != bot_username.lower():
            raise HTTPException(400, "this direct link names another bot")
        if link[2] not in DIRECT_APPS:
            raise HTTPException(400, "this bot has no Mini App with that name")
        start = parse_qs(urlsplit(url).query).get("startapp", [None])[0]
        if start is not None and not START_PARAM.fullmatch(start):
            raise HTTPException(400, "startapp is not a valid start parameter")
        return base_url + DIRECT_APPS[link[2]], start
    if not url.startswith(base_url + "/miniapp/"):
        raise HTTPException(400, "the sandbox opens only the gateway's own Mini Apps")
    return url, None


def create_webapp_router(sandbox: Sandbox) -> APIRouter:
    router = APIRouter(prefix="/sandbox/ui", tags=["sandbox"], include_in_schema=False)
    settings = sandbox.settings

    @router.post("/webapp/init", response_model=WebAppInit)
    async def init(body: WebAppLaunch) -> Any:
        async def work(session: Any) -> tuple[dict[str, Any], str, str | None]:
            user = await get_user(session=session, user_id=body.user_id)
            chat = await get_chat(session=session, chat_id=body.chat_id)
            bot = await get_user(session=session, user_id=settings.bot_id)
            return user_json(user), chat.type, bot.username

        user, chat_type, bot_username = await sandbox.run(work)
        page, start = resolve(body.url, base_url=settings.base_url, bot_username=bot_username)
        fields: dict[str, Any] = {
            "user": {**user, "allows_write_to_pm": True},
            "chat_instance": chat_instance(body.chat_id, settings.bot_id),
            "chat_type": "sender" if chat_type == "private" else chat_type,
        }
        if start is not None:
            fields["start_param"] = start
        init_data = sign_init_data(fields, bot_token=settings.bot_token.get_secret_value())
        return WebAppInit(url=page, init_data=init_data)

    return router
