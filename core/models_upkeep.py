"""SQLModel tables of the gateway's upkeep: replies waiting to be deleted, and what managers
were last told about sybil flags.

Both are small work lists that must outlive a restart: a group reply that should delete itself
is stored until it is gone, and the flag notice watermark keeps managers from hearing about the
same flags twice, whichever gateway process runs the scan.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index
from sqlmodel import Field

from core.clock import utcnow
from core.model_base import DeferredModel
from core.models import bigint_pk, utc_column


class PendingDeletion(DeferredModel, table=True):
    """A bot message (or a command it answered) to delete from a chat at `delete_at`."""

    __tablename__ = "bot_pending_deletions"
    __table_args__ = (Index("ix_bot_pending_deletions_due", "delete_at"),)

    chat_id: int = Field(sa_column=bigint_pk())
    message_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    delete_at: datetime = Field(sa_column=utc_column())
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class FlagNotice(DeferredModel, table=True):
    """The newest flag of a group that its managers were told about (`notified_through`)."""

    __tablename__ = "engagement_flag_notices"

    chat_id: int = Field(sa_column=bigint_pk())
    notified_through: datetime = Field(sa_column=utc_column())
    flags: int = 0
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
