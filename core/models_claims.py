"""SQLModel tables of token claims: epoch settlements, their claim rows and artefacts, claims.

Amounts are decimal strings: token base units reach 2**256, past any integer column.
`claims_claims` has one row per (epoch, member, chain), unique, so two concurrent claim
requests of one member can never both create a claim: nobody is paid twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field

from core.clock import utcnow
from core.model_base import DeferredModel
from core.types import UTCDateTime

CLOSED, PUBLISHED = "closed", "published"
PREPARED, SUBMITTED, CONFIRMED = "prepared", "submitted", "confirmed"


def _settlement_fk(*, primary_key: bool = False) -> Any:
    return Field(
        sa_column=Column(
            Integer,
            ForeignKey("claims_settlements.id", ondelete="CASCADE"),
            primary_key=primary_key,
            autoincrement=False,
            nullable=False,
        )
    )


def _time(*, nullable: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class SettlementBase(DeferredModel):
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    epoch_number: int
    state: str = Field(default=CLOSED, max_length=16)
    pool: str = Field(max_length=80)
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    ledger_digest: str = Field(max_length=80)
    evm_root: str | None = Field(default=None, max_length=66)
    solana_root: str | None = Field(default=None, max_length=66)
    held_back: str = Field(default="0", max_length=80)
    distributor: str | None = Field(default=None, max_length=64)
    chain_id: str | None = Field(default=None, max_length=32)
    deadline: datetime | None = _time(nullable=True)
    treasury: str | None = Field(default=None, max_length=64)
    mint: str | None = Field(default=None, max_length=64)
    allowance: str | None = Field(default=None, max_length=80)


class Settlement(SettlementBase, table=True):
    """The frozen allocation of one closed epoch; `published` once its artefacts are out."""

    __tablename__ = "claims_settlements"
    __table_args__ = (
        UniqueConstraint("epoch_id", name="uq_claims_settlements_epoch"),
        Index("ix_claims_settlements_chat_number", "chat_id", "epoch_number", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    epoch_id: int = Field(
        sa_column=Column(Integer, ForeignKey("engagement_epochs.id"), nullable=False)
    )
    rules: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    unlinked: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    closed_at: datetime = _time()
    published_at: datetime | None = _time(nullable=True)


class SettlementPublic(SettlementBase):
    id: int
    epoch_id: int


class SettlementRow(DeferredModel, table=True):
    """One leaf of a settlement's tree on one chain; `tree_index` is its node in the tree, whose
    nodes are the `{chain}/nodes.bin` artefact, so a proof is read without rebuilding the tree.

    Rows are found by account through the `{chain}/accounts.bin` artefact (account -> index),
    not through a table index: a million random accounts inserted into a B-tree cost more than
    the whole settlement."""

    __tablename__ = "claims_rows"
    __table_args__ = (Index("ix_claims_rows_member", "settlement_id", "member_id"),)

    settlement_id: int = _settlement_fk(primary_key=True)
    chain: str = Field(sa_column=Column(String(8), primary_key=True))
    index: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    member_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    account: str = Field(sa_column=Column(String(64), nullable=False))
    amount: str = Field(sa_column=Column(String(80), nullable=False))
    tree_index: int = Field(sa_column=Column(Integer, nullable=False))


class Artefact(DeferredModel, table=True):
    """A published file of a settlement (`evm/dump.json`, `rules.json`, `ledger.jsonl`, ...).

    Large files (dumps and claims files) are kept on disk: `path` is then their place under the
    data directory and `body` is empty.
    """

    __tablename__ = "claims_artefacts"

    settlement_id: int = _settlement_fk(primary_key=True)
    name: str = Field(sa_column=Column(String(32), primary_key=True))
    media_type: str = Field(max_length=64)
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    path: str | None = Field(default=None, sa_column=Column(String(255), nullable=True))


class Claim(DeferredModel, table=True):
    """A member's claim of one epoch on one chain: prepared, submitted, then confirmed.

    For Solana, `tx` holds the live partially signed transaction and `blockhash` with
    `last_valid_height` say until when it can land.
    """

    __tablename__ = "claims_claims"
    __table_args__ = (
        UniqueConstraint("epoch_id", "member_id", "chain", name="uq_claims_claims_member"),
    )

    id: int | None = Field(default=None, primary_key=True)
    settlement_id: int = _settlement_fk()
    epoch_id: int = Field(sa_column=Column(Integer, nullable=False))
    member_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    chain: str = Field(max_length=8)
    index: int
    account: str = Field(max_length=64)
    amount: str = Field(max_length=80)
    status: str = Field(default=PREPARED, max_length=16)
    tx_hash: str | None = Field(default=None, max_length=128)
    tx: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    blockhash: str | None = Field(default=None, max_length=64)
    last_valid_height: int | None = Field(default=None, sa_column=Column(BigInteger))
    created_at: datetime = _time()
    updated_at: datetime = _time()
    confirmed_at: datetime | None = _time(nullable=True)
