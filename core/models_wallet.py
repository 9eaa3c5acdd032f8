"""SQLModel tables of wallet linking: links, one-time link tokens, sign-in challenges, audit log.

A link is active while `unlinked_at` is NULL. Two partial unique indexes hold the policy even
under concurrent requests: an address (per chain family) has at most one active link, so it
belongs to one member at a time but can be linked again, by anyone, once unlinked; and a member
has at most one active primary wallet per chain family.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String, Text, text
from sqlmodel import Field

from core.clock import utcnow
from core.model_base import DeferredModel
from core.models import utc_column

ACTIVE = text("unlinked_at IS NULL")
ACTIVE_PRIMARY = text("is_primary AND unlinked_at IS NULL")


def _member_fk(*, index: bool = True) -> Column[int]:
    return Column(BigInteger, ForeignKey("members.id"), nullable=False, index=index)


class WalletLinkBase(DeferredModel):
    chain_family: str = Field(max_length=8)
    address: str = Field(max_length=64)
    chain_id: str = Field(max_length=32)
    is_primary: bool = False


class WalletLink(WalletLinkBase, table=True):
    """A wallet a member proved to own by signing; the signed text and signature are kept."""

    __tablename__ = "wallet_links"
    __table_args__ = (
        Index(
            "uq_wallet_links_active_address",
            "chain_family",
            "address",
            unique=True,
            sqlite_where=ACTIVE,
            postgresql_where=ACTIVE,
        ),
        Index(
            "uq_wallet_links_active_primary",
            "member_id",
            "chain_family",
            unique=True,
            sqlite_where=ACTIVE_PRIMARY,
            postgresql_where=ACTIVE_PRIMARY,
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    member_id: int = Field(sa_column=_member_fk())
    message: str = Field(sa_column=Column(Text, nullable=False))
    signature: str = Field(sa_column=Column(Text, nullable=False))
    linked_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    unlinked_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class WalletLinkPublic(WalletLinkBase):
    id: int
    member_id: int
    linked_at: datetime


class WalletLinkToken(DeferredModel, table=True):
    """A one-time link token sent to a member in the bot's chat; only its SHA-256 is stored."""

    __tablename__ = "wallet_link_tokens"
    __table_args__ = (Index("uq_wallet_link_tokens_hash", "token_hash", unique=True),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    token_hash: str = Field(sa_column=Column(String(64), nullable=False))
    member_id: int = Field(sa_column=_member_fk())
    chain_family: str = Field(max_length=8)
    chat_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    expires_at: datetime = Field(sa_column=utc_column())
    used_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class WalletChallenge(DeferredModel, table=True):
    """The exact sign-in message issued for one link token; its nonce is used at most once."""

    __tablename__ = "wallet_challenges"

    nonce: str = Field(sa_column=Column(String(32), primary_key=True))
    token_id: int = Field(
        sa_column=Column(Integer, ForeignKey("wallet_link_tokens.id"), nullable=False, index=True)
    )
    chain_family: str = Field(max_length=8)
    address: str = Field(max_length=64)
    message: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    expires_at: datetime = Field(sa_column=utc_column())
    used_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class WalletAudit(DeferredModel, table=True):
    """One row per link, unlink, primary change and refused takeover (`conflict`).

    A `conflict` row names the member who proved control of a wallet (`member_id`) and the
    member it is linked to (`other_member_id`): a sybil signal for the engagement side.
    """

    __tablename__ = "wallet_audit_log"
    __table_args__ = (Index("ix_wallet_audit_log_event_created", "event", "created_at"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    event: str = Field(max_length=16)
    member_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    other_member_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    chain_family: str = Field(max_length=8)
    address: str = Field(max_length=64)
    link_id: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
