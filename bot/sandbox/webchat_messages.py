"""The web chat's message actions: post, edit, react, press buttons, use invite links."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, Field
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.sandbox import state
from bot.sandbox.errors import SandboxError

if TYPE_CHECKING:
    from bot.sandbox.app import Sandbox

BIG = 2**53
Id = Annotated[int, Field(ge=-BIG, le=BIG)]
ChatId = Annotated[int, Path(ge=-BIG, le=BIG)]
Since = Annotated[int, Query(ge=0, le=BIG)]
Run = Callable[[Callable[[AsyncSession], Awaitable[Any]]], Awaitable[Any]]


class MessageIn(BaseModel):
    from_id: Id
    text: str = Field(min_length=1, max_length=4096)
    reply_to: Id | None = None


class EditIn(BaseModel):
    user_id: Id
    text: str = Field(min_length=1, max_length=4096)


class ReactionIn(BaseModel):
    message_id: Id
    user_id: Id
    emoji: list[Annotated[str, Field(max_length=16)]] = Field(default_factory=list, max_length=3)


class ButtonIn(BaseModel):
    message_id: Id
    user_id: Id
    data: str = Field(min_length=1, max_length=64)


class LinkIn(BaseModel):
    user_id: Id
    invite_link: str = Field(min_length=1, max_length=128)


def runner(sandbox: Sandbox) -> Run:
    """Runs a unit of work in the sandbox's transaction, refusals turned into HTTP 4xx."""

    async def run(work: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
        try:
            return await sandbox.run(work)
        except SandboxError as error:
            raise HTTPException(status_code=error.code, detail=error.description) from None

    return run


def add_message_routes(router: APIRouter, run: Run) -> None:
    @router.post("/chats/{chat_id}/messages", summary="Send a message as a user")
    async def send(chat_id: ChatId, body: MessageIn) -> Any:
        return await run(
            lambda s: state.send_message(
                session=s,
                chat_id=chat_id,
                from_id=body.from_id,
                text=body.text,
                reply_to=body.reply_to,
            )
        )

    @router.get("/chats/{chat_id}/messages", summary="Messages after since_id or since_rev")
    async def list_messages(chat_id: ChatId, since_id: Since = 0, since_rev: Since = 0) -> Any:
        async def work(session: AsyncSession) -> Any:
            _, found = await state.changes(
                session=session, chat_id=chat_id, since_revision=since_rev, since_id=since_id
            )
            return found

        return await run(work)

    @router.patch("/chats/{chat_id}/messages/{message_id}", summary="Edit a user's message")
    async def edit(chat_id: ChatId, message_id: ChatId, body: EditIn) -> Any:
        return await run(
            lambda s: state.edit_message(
                session=s,
                chat_id=chat_id,
                message_id=message_id,
                user_id=body.user_id,
                text=body.text,
            )
        )

    @router.post("/chats/{chat_id}/reactions", summary="Set a user's reactions on a message")
    async def react(chat_id: ChatId, body: ReactionIn) -> Any:
        return await run(
            lambda s: state.react(
                session=s,
                chat_id=chat_id,
                message_id=body.message_id,
                user_id=body.user_id,
                emoji=body.emoji,
            )
        )

    @router.post("/chats/{chat_id}/buttons", summary="Press an inline callback button")
    async def press(chat_id: ChatId, body: ButtonIn) -> Any:
        query_id = await run(
            lambda s: state.press_button(
                session=s,
                chat_id=chat_id,
                message_id=body.message_id,
                user_id=body.user_id,
                callback_data=body.data,
            )
        )
        return {"callback_query_id": query_id}

    @router.get("/callback_queries/{query_id}", summary="The bot's answer to a button press")
    async def callback(query_id: Annotated[str, Path(max_length=64)]) -> Any:
        return await run(lambda s: state.callback_answer(session=s, callback_query_id=query_id))

    @router.post("/chats/{chat_id}/join_requests", summary="Ask to join by an invite link")
    async def request_join(chat_id: ChatId, body: LinkIn) -> Any:
        return await run(
            lambda s: state.request_join(
                session=s, chat_id=chat_id, user_id=body.user_id, invite_link=body.invite_link
            )
        )

    @router.get("/chats/{chat_id}/join_requests", summary="Pending join requests")
    async def pending_requests(chat_id: ChatId) -> Any:
        return await run(lambda s: state.join_requests(session=s, chat_id=chat_id))

    @router.get("/chats/{chat_id}/invite_links", summary="A group's invite links")
    async def links(chat_id: ChatId) -> Any:
        return await run(lambda s: state.invite_links(session=s, chat_id=chat_id))

    @router.post("/invite_links/use", summary="Use an invite link: join or ask to join")
    async def use_link(body: LinkIn) -> Any:
        return await run(
            lambda s: state.use_invite_link(
                session=s, user_id=body.user_id, invite_link=body.invite_link
            )
        )
