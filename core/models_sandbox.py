"""SQLModel tables of the sandbox: a local Telegram-style Bot API server and its web chat.

They hold what Telegram's servers would hold (users, chats, memberships, messages, invite
links, join requests, callback queries and each bot's update queue), so a sandbox survives a
restart. Ids are 64-bit like Telegram's; every time is UTC-aware; free-form Telegram objects
(keyboards, entities, rights, update payloads) are JSON.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, String, Text
from sqlmodel import Field

from core.clock import utcnow
from core.model_base import DeferredModel
from core.types import UTCDateTime


def _utc_or_none() -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


def _created() -> Any:
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


def _key() -> Any:
    return Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))


def _bigint(*, default: int | None = 0, nullable: bool = False, index: bool = False) -> Any:
    return Field(default=default, sa_column=Column(BigInteger, nullable=nullable, index=index))


def _json(*, nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(JSON, nullable=nullable))


class SandboxCounter(DeferredModel, table=True):
    """Named sequences (user ids, chat ids) bumped atomically with `UPDATE ... RETURNING`."""

    __tablename__ = "sandbox_counters"

    name: str = Field(sa_column=Column(String(32), primary_key=True))
    value: int = _bigint()


class SandboxUser(DeferredModel, table=True):
    """A user of the sandbox: a person at the web chat, a test's actor, or a bot."""

    __tablename__ = "sandbox_users"

    id: int = _key()
    is_bot: bool = False
    first_name: str = Field(default="", max_length=64)
    last_name: str | None = Field(default=None, max_length=64)
    username: str | None = Field(default=None, max_length=32, index=True)
    language_code: str | None = Field(default=None, max_length=16)
    created_at: datetime = _created()


class SandboxBot(DeferredModel, table=True):
    """A bot's server-side state: its token, webhook, update counter and settings."""

    __tablename__ = "sandbox_bots"

    id: int = _key()
    token: str = Field(sa_column=Column(String(128), nullable=False, unique=True))
    webhook_url: str = Field(default="", max_length=2048)
    webhook_secret: str | None = Field(default=None, max_length=256)
    max_connections: int = 40
    # None means Telegram's default set; a list is what the bot asked for.
    allowed_updates: list[str] | None = _json()
    last_update_id: int = _bigint()
    last_error_date: datetime | None = _utc_or_none()
    last_error_message: str | None = Field(default=None, sa_column=Column(Text))
    commands: dict[str, Any] | None = _json()
    menu_buttons: dict[str, Any] | None = _json()
    created_at: datetime = _created()


class SandboxChat(DeferredModel, table=True):
    """A chat: `private` (id = the user's id), `group` or `supergroup` (negative ids)."""

    __tablename__ = "sandbox_chats"

    id: int = _key()
    type: str = Field(max_length=16)
    title: str | None = Field(default=None, max_length=128)
    username: str | None = Field(default=None, max_length=32)
    description: str | None = Field(default=None, sa_column=Column(Text))
    # The bot a private chat is held with; None for groups.
    peer_bot_id: int | None = _bigint(default=None, nullable=True)
    last_message_id: int = _bigint()
    # Bumped on every change of the chat's messages, so the web chat can poll for edits too.
    revision: int = _bigint()
    permissions: dict[str, Any] | None = _json()
    created_at: datetime = _created()


class SandboxChatMember(DeferredModel, table=True):
    """A user's standing in a chat, with Telegram's statuses and rights."""

    __tablename__ = "sandbox_chat_members"

    chat_id: int = _key()
    user_id: int = Field(
        sa_column=Column(BigInteger, primary_key=True, autoincrement=False, index=True)
    )
    status: str = Field(default="member", max_length=16)
    rights: dict[str, Any] | None = _json()
    custom_title: str | None = Field(default=None, max_length=16)
    until_date: datetime | None = _utc_or_none()
    promoted_by: int | None = _bigint(default=None, nullable=True)
    joined_at: datetime = _created()


class SandboxMessage(DeferredModel, table=True):
    """A message as Telegram stores it; `service` holds service fields such as new_chat_members."""

    __tablename__ = "sandbox_messages"
    __table_args__ = (Index("ix_sandbox_messages_chat_revision", "chat_id", "revision"),)

    chat_id: int = _key()
    message_id: int = _key()
    from_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    date: datetime = _created()
    text: str | None = Field(default=None, sa_column=Column(Text))
    entities: list[dict[str, Any]] | None = _json()
    reply_to_message_id: int | None = _bigint(default=None, nullable=True)
    reply_markup: dict[str, Any] | None = _json()
    service: dict[str, Any] | None = _json()
    edit_date: datetime | None = _utc_or_none()
    deleted: bool = False
    revision: int = _bigint()


class SandboxReaction(DeferredModel, table=True):
    """One user's current reactions to one message."""

    __tablename__ = "sandbox_reactions"

    chat_id: int = _key()
    message_id: int = _key()
    user_id: int = _key()
    emoji: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    date: datetime = _created()


class SandboxInviteLink(DeferredModel, table=True):
    """An invite link of a chat, `https://t.me/+<hash>`."""

    __tablename__ = "sandbox_invite_links"

    invite_link: str = Field(sa_column=Column(String(128), primary_key=True))
    chat_id: int = _bigint(index=True)
    creator_id: int = _bigint()
    name: str | None = Field(default=None, max_length=32)
    expire_date: datetime | None = _utc_or_none()
    member_limit: int | None = None
    creates_join_request: bool = False
    is_primary: bool = False
    is_revoked: bool = False
    uses: int = 0
    created_at: datetime = _created()


class SandboxJoinRequest(DeferredModel, table=True):
    """A request to join a chat through a link that needs an administrator's approval."""

    __tablename__ = "sandbox_join_requests"

    chat_id: int = _key()
    user_id: int = _key()
    invite_link: str | None = Field(default=None, max_length=128)
    status: str = Field(default="pending", max_length=16)
    date: datetime = _created()


class SandboxCallbackQuery(DeferredModel, table=True):
    """A press on an inline button, and the bot's answer once it gives one."""

    __tablename__ = "sandbox_callback_queries"

    id: str = Field(sa_column=Column(String(64), primary_key=True))
    bot_id: int = _bigint()
    chat_id: int = _bigint()
    message_id: int = _bigint()
    from_id: int = _bigint()
    data: str | None = Field(default=None, max_length=64)
    answered: bool = False
    answer_text: str | None = Field(default=None, max_length=256)
    show_alert: bool = False
    url: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = _created()
    answered_at: datetime | None = _utc_or_none()


class SandboxUpdate(DeferredModel, table=True):
    """One update in a bot's queue; `confirmed_at` is set once delivered or confirmed."""

    __tablename__ = "sandbox_updates"
    __table_args__ = (Index("ix_sandbox_updates_pending", "bot_id", "confirmed_at", "update_id"),)

    bot_id: int = _key()
    update_id: int = _key()
    kind: str = Field(max_length=32)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = _created()
    attempts: int = 0
    confirmed_at: datetime | None = _utc_or_none()
