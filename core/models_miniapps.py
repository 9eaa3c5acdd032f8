"""SQLModel tables of the builder platform: registered Mini Apps.

An app's secret is shown to its builder once and only its SHA-256 is kept: the secret is 32
random bytes, so a plain hash is enough (no password stretching is needed against guessing).
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey, String
from sqlmodel import Field

from core.clock import utcnow
from core.model_base import DeferredModel
from core.models import utc_column


class MiniAppBase(DeferredModel):
    name: str = Field(max_length=64)


class MiniApp(MiniAppBase, table=True):
    """A builder's Mini App, owned by the member who registered it with /newapp."""

    __tablename__ = "miniapp_apps"

    id: str = Field(sa_column=Column(String(32), primary_key=True))
    owner_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("members.id"), nullable=False, index=True)
    )
    secret_hash: str = Field(sa_column=Column(String(64), nullable=False))
    # The https page members open (empty: registered without one yet).
    url: str = Field(default="", sa_column=Column(String(512), nullable=False, server_default=""))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    revoked_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class MiniAppPublic(MiniAppBase):
    id: str
    owner_id: int
    created_at: datetime


def hash_secret(secret: str) -> str:
    """What is stored of an app secret, and compared (in constant time) when it is presented."""
    return hashlib.sha256(secret.encode()).hexdigest()
