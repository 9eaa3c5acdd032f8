"""Claim rows stored in bulk (COPY on PostgreSQL, executemany on SQLite) inside the caller's
transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlmodel import select

from core.db import transaction
from core.models_claims import SettlementRow
from engagement.settle_service import store_rows
from tests.engagement.test_settlement_store import Sessions, close, evm, seed, sessions

__all__ = ["sessions"]  # the fixture, parametrized over SQLite and PostgreSQL


async def test_rows_are_stored_and_roll_back_with_the_transaction(sessions: Sessions) -> None:
    await seed(sessions, {1: 1}, evm={1: evm(1)})
    record = await close(sessions, 10)
    sid = record.id or 0
    rows = [(sid, "solana", i, 100 + i, f"owner{i}", str(i * 7), 2 * i) for i in range(50)]
    with pytest.raises(RuntimeError, match="after the rows"):
        async with transaction(sessions) as session:
            await store_rows(session, rows)
            raise RuntimeError("a failure after the rows")
    async with transaction(sessions) as session:
        conn = await session.connection()
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            before = (await session.exec(text("PRAGMA cache_size"))).scalar_one()  # type: ignore[call-overload]
        await store_rows(session, rows)
        if sqlite:
            after = (await session.exec(text("PRAGMA cache_size"))).scalar_one()  # type: ignore[call-overload]
            assert after == before
    async with sessions() as session:
        stored = (
            await session.exec(select(SettlementRow).where(SettlementRow.chain == "solana"))
        ).all()
    got = sorted(
        (r.settlement_id, r.chain, r.index, r.member_id, r.account, r.amount, r.tree_index)
        for r in stored
    )
    assert got == rows
