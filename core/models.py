"""SQLModel tables of the gateway: members, chats, memberships, messages, processed updates.

Telegram identifiers are 64-bit, so every id column is a BigInteger. Every time is UTC-aware.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column
from sqlmodel import Field

from core.clock import utcnow
from core.model_base import DeferredModel
from core.types import UTCDateTime


def utc_column(*, nullable: bool = False, index: bool = False) -> Column[datetime]:
    return Column(UTCDateTime(), nullable=nullable, index=index)


def bigint_pk() -> Column[int]:
    return Column(BigInteger, primary_key=True, autoincrement=False)


class MemberBase(DeferredModel):
    username: str | None = Field(default=None, max_length=64)
    first_name: str = Field(default="", max_length=256)
    last_name: str | None = Field(default=None, max_length=256)
    language_code: str | None = Field(default=None, max_length=16)
    is_bot: bool = False


class Member(MemberBase, table=True):
    """A Telegram user the gateway has seen."""

    __tablename__ = "members"

    id: int = Field(sa_column=bigint_pk())
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class MemberPublic(MemberBase):
    id: int


class ChatBase(DeferredModel):
    type: str = Field(max_length=16)
    title: str | None = Field(default=None, max_length=256)
    username: str | None = Field(default=None, max_length=64)


class Chat(ChatBase, table=True):
    """A chat (private, group, supergroup or channel) the bot is in or was in."""

    __tablename__ = "chats"

    id: int = Field(sa_column=bigint_pk())
    bot_status: str = Field(default="member", max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class ChatPublic(ChatBase):
    id: int


class Membership(DeferredModel, table=True):
    """A member's standing in one chat."""

    __tablename__ = "memberships"

    chat_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    member_id: int = Field(
        sa_column=Column(BigInteger, primary_key=True, autoincrement=False, index=True)
    )
    status: str = Field(default="member", max_length=16)
    joined_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    last_seen_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    message_count: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))


class ChatMessage(DeferredModel, table=True):
    """A group message the bot saw: enough to explain points, never the full text."""

    __tablename__ = "chat_messages"

    chat_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    message_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    member_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    update_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    kind: str = Field(default="text", max_length=16)
    text_length: int = 0
    reply_to_message_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    sent_at: datetime = Field(sa_column=utc_column())


class ProcessedUpdate(DeferredModel, table=True):
    """One row per Telegram update handled: the durable guard against double processing."""

    __tablename__ = "processed_updates"

    update_id: int = Field(sa_column=bigint_pk())
    bot_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    kind: str = Field(max_length=32)
    processed_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
