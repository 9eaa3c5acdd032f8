"""SQLModel tables of the builder platform's grants: which groups enable an app (with a cap on
the points its events may give), and which members let an app read their wallets.

Both keep their history in place: disabling an app or revoking a consent stamps a time instead
of deleting the row, so a manager or a member can see what was allowed and when.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey, Integer, String
from sqlmodel import Field

from core.clock import utcnow
from core.model_base import DeferredModel
from core.models import utc_column


class GroupApp(DeferredModel, table=True):
    """An app enabled in a group; `cap` bounds the points its events give one member per epoch."""

    __tablename__ = "miniapp_group_apps"

    chat_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("chats.id"), primary_key=True, autoincrement=False)
    )
    app_id: str = Field(
        sa_column=Column(String(32), ForeignKey("miniapp_apps.id"), primary_key=True)
    )
    cap: int = Field(sa_column=Column(Integer, nullable=False))
    enabled_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    enabled_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    disabled_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class AppConsent(DeferredModel, table=True):
    """A member's consent that an app may use a scope (today only `wallets:read`)."""

    __tablename__ = "miniapp_consents"

    member_id: int = Field(
        sa_column=Column(
            BigInteger, ForeignKey("members.id"), primary_key=True, autoincrement=False
        )
    )
    app_id: str = Field(
        sa_column=Column(String(32), ForeignKey("miniapp_apps.id"), primary_key=True)
    )
    scope: str = Field(sa_column=Column(String(32), primary_key=True))
    granted_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    revoked_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
