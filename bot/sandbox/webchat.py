"""The web chat: its page at `/` and its JSON API under `/sandbox/ui/...`.

Every action a person takes here goes through the same state helpers the tests call, so it
queues the same updates for the bot.
"""

from __future__ import annotations

import time
from pathlib import Path as FilePath
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.routes import add_routes
from bot.sandbox import state
from bot.sandbox.state_core import get_bot, get_chat, get_member, get_user
from bot.sandbox.views import chat_json, user_json
from bot.sandbox.webchat_messages import BIG, ChatId, Id, add_message_routes, runner

if TYPE_CHECKING:
    from bot.sandbox.app import Sandbox

TEMPLATES = FilePath(__file__).resolve().parents[2] / "templates"
STATIC = {"chat.js": "text/javascript", "chat.css": "text/css"}
UserIdQuery = Annotated[int | None, Query(ge=-BIG, le=BIG)]


class NewUser(BaseModel):
    first_name: str = Field(min_length=1, max_length=64)
    last_name: str | None = Field(default=None, max_length=64)
    username: str | None = Field(default=None, max_length=33)
    language_code: str | None = Field(default="en", max_length=16)


class NewChat(BaseModel):
    title: str = Field(min_length=1, max_length=128)
    creator_id: Id
    supergroup: bool = True
    bot: Literal["none", "member", "admin"] = "member"


class BotIn(BaseModel):
    admin: bool = False
    by_user_id: Id | None = None


class MemberIn(BaseModel):
    user_id: Id
    by_user_id: Id | None = None
    invite_link: str | None = Field(default=None, max_length=128)


class UserRef(BaseModel):
    user_id: Id
    by_user_id: Id | None = None


def page_headers(settings_origin: str) -> dict[str, str]:
    policy = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        # Builders' Mini Apps live on their own origins, as on Telegram: https anywhere, or a
        # local port while developing against the sandbox.
        f"connect-src 'self'; frame-src 'self' {settings_origin} https: http://127.0.0.1:*; "
        "object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


async def _chat_summary(session: AsyncSession, chat_id: int, user_id: int | None) -> dict[str, Any]:
    """A chat as the web chat lists it: Telegram's Chat plus the bot's and the user's standing."""
    chat = await get_chat(session=session, chat_id=chat_id)
    data = await chat_json(session=session, chat=chat)
    bot = await get_bot(session=session, bot_id=chat.peer_bot_id)
    if chat.type == "private":
        title = (await get_user(session=session, user_id=bot.id)).first_name
        data["sandbox"] = {"title": title, "bot_status": "member", "my_status": "member"}
        return data
    standing = await get_member(session=session, chat_id=chat.id, user_id=bot.id)
    mine = await get_member(session=session, chat_id=chat.id, user_id=user_id) if user_id else None
    data["sandbox"] = {
        "title": chat.title,
        "bot_status": standing.status if standing else "left",
        "my_status": mine.status if mine else "left",
    }
    return data


def create_webchat_router(sandbox: Sandbox) -> APIRouter:
    router = APIRouter(prefix="/sandbox/ui", tags=["sandbox web chat"])
    page = APIRouter()
    templates = Jinja2Templates(directory=str(TEMPLATES))

    run = runner(sandbox)

    @page.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def chat_page(request: Request) -> HTMLResponse:
        versions = {name: int((TEMPLATES / "sandbox" / name).stat().st_mtime) for name in STATIC}
        response = templates.TemplateResponse(request, "sandbox/chat.html", {"versions": versions})
        response.headers.update(page_headers(sandbox.settings.base_url))
        return response

    @page.get("/sandbox/ui/static/{name}", include_in_schema=False)
    async def static(name: str) -> FileResponse:
        if name not in STATIC:
            raise HTTPException(status_code=404, detail="Not Found")
        return FileResponse(TEMPLATES / "sandbox" / name, media_type=STATIC[name])

    @router.get("/bot", summary="The sandbox's bot")
    async def bot_info() -> Any:
        async def work(session: AsyncSession) -> Any:
            bot = await get_bot(session=session)
            return user_json(await get_user(session=session, user_id=bot.id))

        return await run(work)

    @router.post("/users", summary="Create a user")
    async def create_user(body: NewUser) -> Any:
        return await run(lambda s: state.create_user(session=s, **body.model_dump()))

    @router.get("/users", summary="List users")
    async def list_users() -> Any:
        return await run(lambda s: state.list_users(session=s))

    @router.post("/users/{user_id}/private", summary="Open the private chat with the bot")
    async def open_private(user_id: ChatId) -> Any:
        return await run(lambda s: state.private_chat_with_bot(session=s, user_id=user_id))

    @router.post("/chats", summary="Create a group, optionally with the bot")
    async def create_chat(body: NewChat) -> Any:
        async def work(session: AsyncSession) -> Any:
            chat = await state.create_group(
                session=session,
                title=body.title,
                creator_id=body.creator_id,
                supergroup=body.supergroup,
            )
            if body.bot != "none":
                await state.add_bot(
                    session=session,
                    chat_id=chat["id"],
                    by_user_id=body.creator_id,
                    admin=body.bot == "admin",
                )
            return chat

        return await run(work)

    @router.get("/chats", summary="A user's chats")
    async def list_chats(user_id: UserIdQuery = None) -> Any:
        async def work(session: AsyncSession) -> Any:
            if user_id is None:
                return []
            chats = await state.chats_for_user(session=session, user_id=user_id)
            return [await _chat_summary(session, chat["id"], user_id) for chat in chats]

        return await run(work)

    @router.get("/chats/{chat_id}", summary="A chat with the bot's and the user's standing")
    async def chat_detail(chat_id: ChatId, user_id: UserIdQuery = None) -> Any:
        data = await run(lambda s: _chat_summary(s, chat_id, user_id))
        action = sandbox.chat_actions.get(chat_id)
        live = action is not None and action[1] > time.monotonic()
        data["sandbox"]["action"] = action[0] if live and action else None
        return data

    @router.post("/chats/{chat_id}/bot", summary="Add the bot, or make it an administrator")
    async def add_bot(chat_id: ChatId, body: BotIn) -> Any:
        async def work(session: AsyncSession) -> Any:
            by_user_id = body.by_user_id or await state.chat_owner(session=session, chat_id=chat_id)
            bot = await get_bot(session=session)
            standing = await get_member(session=session, chat_id=chat_id, user_id=bot.id)
            if body.admin and standing is not None and standing.status == "member":
                return await state.promote(
                    session=session, chat_id=chat_id, user_id=bot.id, by_user_id=by_user_id
                )
            return await state.add_bot(
                session=session, chat_id=chat_id, by_user_id=by_user_id, admin=body.admin
            )

        return await run(work)

    @router.post("/chats/{chat_id}/bot/remove", summary="Remove the bot from the group")
    async def remove_bot(chat_id: ChatId, body: UserRef) -> Any:
        return await run(
            lambda s: state.remove_bot(session=s, chat_id=chat_id, by_user_id=body.user_id)
        )

    @router.get("/chats/{chat_id}/members", summary="Members of a group")
    async def members(chat_id: ChatId) -> Any:
        return await run(lambda s: state.chat_members(session=s, chat_id=chat_id))

    @router.post("/chats/{chat_id}/members", summary="Join, or add a user to, a group")
    async def add_member(chat_id: ChatId, body: MemberIn) -> Any:
        adder = body.by_user_id
        if adder is not None:
            return await run(
                lambda s: state.add_member(
                    session=s, chat_id=chat_id, user_id=body.user_id, by_user_id=adder
                )
            )
        return await run(
            lambda s: state.join(
                session=s, chat_id=chat_id, user_id=body.user_id, invite_link=body.invite_link
            )
        )

    @router.post("/chats/{chat_id}/admins", summary="Promote a member to administrator")
    async def promote(chat_id: ChatId, body: UserRef) -> Any:
        async def work(session: AsyncSession) -> Any:
            by_user_id = body.by_user_id or await state.chat_owner(session=session, chat_id=chat_id)
            return await state.promote(
                session=session, chat_id=chat_id, user_id=body.user_id, by_user_id=by_user_id
            )

        return await run(work)

    @router.post("/chats/{chat_id}/leave", summary="Leave a group")
    async def leave(chat_id: ChatId, body: UserRef) -> Any:
        return await run(lambda s: state.leave(session=s, chat_id=chat_id, user_id=body.user_id))

    add_message_routes(router, run)
    add_routes(page, router)
    return page
