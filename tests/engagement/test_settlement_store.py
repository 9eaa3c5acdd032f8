"""Closing, publishing and verifying settlements on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from core import repo
from core.db import create_engine, session_factory, transaction
from core.migrate import upgrade
from core.models_claims import Artefact, SettlementRow
from core.models_claims import Settlement as Record
from core.models_engagement import Epoch, Standing
from core.models_wallet import WalletLink
from engagement import epochs, ledger, settle_service
from engagement.settlement import AllocationParams, SettlementError, recompute

CHAT = -1009900
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
Sessions = async_sessionmaker[AsyncSession]


async def seed(
    sessions: Sessions,
    scores: Mapping[int, int],
    *,
    evm: Mapping[int, str] = {},
    solana: Mapping[int, str] = {},
    chat: int = CHAT,
) -> None:
    """A group with epoch 1 open, one ledger row per member, and linked wallets."""
    async with transaction(sessions) as session:
        await repo.upsert_chat(
            session=session, id=chat, type="supergroup", title="T", username=None
        )
        await epochs.ensure_setup(session=session, chat_id=chat)
        epoch = await epochs.current(session=session, chat_id=chat)
        assert epoch is not None and epoch.id is not None
        for member in set(scores) | set(evm) | set(solana):
            await repo.upsert_member(
                session=session,
                id=member,
                username=None,
                first_name=f"M{member}",
                last_name=None,
                language_code=None,
                is_bot=False,
            )
        await ledger.append(
            session=session,
            entries=[
                ledger.Entry(
                    chat_id=chat,
                    epoch_id=epoch.id,
                    member_id=m,
                    kind="manual",
                    rule="grant",
                    points=p,
                    rules_version=1,
                    cause=f"seed:{m}",
                    occurred_at=T0,
                )
                for m, p in scores.items()
            ],
        )
        for family, wallets in (("evm", evm), ("solana", solana)):
            for member, address in wallets.items():
                session.add(
                    WalletLink(
                        chain_family=family,
                        address=address,
                        chain_id="1",
                        is_primary=True,
                        member_id=member,
                        message="m",
                        signature="s",
                    )
                )


async def close(sessions: Sessions, pool: int, number: int = 1, chat: int = CHAT) -> Record:
    async with transaction(sessions) as session:
        record, _ = await settle_service.close(
            session=session, chat_id=chat, number=number, params=AllocationParams(pool=pool)
        )
    return record


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[Sessions]:
    await asyncio.to_thread(upgrade, database_url)
    engine = create_engine(database_url)
    yield session_factory(engine)
    await engine.dispose()


def evm(i: int) -> str:
    return "0x" + f"{i:040x}"


SOL = "4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T"


async def test_close_publish_verify(sessions: Sessions) -> None:
    await seed(sessions, {1: 10, 2: 30, 3: 60}, evm={1: evm(1), 2: evm(2)}, solana={3: SOL})
    record = await close(sessions, 1000)
    assert record.state == "closed" and record.evm_root and record.solana_root
    async with sessions() as session:
        epoch = await epochs.by_number(session=session, chat_id=CHAT, number=1)
        assert epoch is not None and epoch.state == "closed"
        rows = (
            (await session.exec(select(SettlementRow).order_by(SettlementRow.index)))
            .scalars()
            .all()
        )  # type: ignore[call-overload]
        assert sorted((r.chain, r.member_id, r.amount) for r in rows) == [
            ("evm", 1, "100"),
            ("evm", 2, "300"),
            ("solana", 3, "600"),
        ]
        verdict = await settle_service.verify(session=session, chat_id=CHAT, number=1)
        assert verdict.ok, verdict
        names = (await session.exec(select(Artefact.name))).scalars().all()  # type: ignore[call-overload]
        assert set(names) >= {"rules.json", "ledger.jsonl", "evm/dump.json", "solana/claims.json"}
    async with transaction(sessions) as session:
        with pytest.raises(SettlementError, match="Solana allowance"):
            await settle_service.publish(session=session, chat_id=CHAT, number=1, allowance=599)
    async with transaction(sessions) as session:
        published = await settle_service.publish(
            session=session, chat_id=CHAT, number=1, allowance=600
        )
        assert published.state == "published"
    async with sessions() as session:
        epoch = await epochs.by_number(session=session, chat_id=CHAT, number=1)
        assert epoch is not None and epoch.state == "published"
    async with transaction(sessions) as session:
        with pytest.raises(SettlementError, match="already published"):
            await settle_service.publish(session=session, chat_id=CHAT, number=1, allowance=600)


async def test_verify_detects_tampering(sessions: Sessions) -> None:
    await seed(sessions, {1: 10, 2: 30}, evm={1: evm(1), 2: evm(2)})
    record = await close(sessions, 1000)
    async with transaction(sessions) as session:
        found = await session.get(Artefact, (record.id, "ledger.jsonl"))
        assert found is not None
        found.body = found.body.replace(b'"points":30', b'"points":31')
        session.add(found)
    async with sessions() as session:
        verdict = await settle_service.verify(session=session, chat_id=CHAT, number=1)
    assert not verdict.ok
    assert verdict.published["evm"] != verdict.recomputed["evm"]


async def test_crash_mid_close_leaves_epoch_open(
    sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed(sessions, {1: 1, 2: 2, 3: 3}, evm={m: evm(m) for m in (1, 2, 3)})

    async def boom(*_: object) -> None:
        raise RuntimeError("power cut")

    with monkeypatch.context() as patch:
        patch.setattr(settle_service, "store", boom)
        with pytest.raises(RuntimeError, match="power cut"):
            await close(sessions, 600)
    async with sessions() as session:
        epoch = await epochs.by_number(session=session, chat_id=CHAT, number=1)
        assert epoch is not None and epoch.state == "open"
        assert (await session.exec(select(func.count()).select_from(Record))).one()[0] == 0  # type: ignore[call-overload]
        assert (await session.exec(select(func.count()).select_from(Epoch))).one()[0] == 1  # type: ignore[call-overload]
    record = await close(sessions, 600)
    async with sessions() as session:
        files = {
            n: (
                await settle_service.artefact(session=session, settlement_id=record.id or 0, name=n)
            )
            for n in ("ledger.jsonl", "rules.json")
        }
    again = recompute(files["ledger.jsonl"].body, json.loads(files["rules.json"].body))  # type: ignore[union-attr]
    assert record.evm_root == again.root("evm")
    assert again.amounts == {1: 100, 2: 200, 3: 300}


async def test_bad_closes(sessions: Sessions) -> None:
    await seed(sessions, {1: 1, 2: 1, 3: 1, 4: 0}, evm={1: evm(1)})
    async with transaction(sessions) as session:
        with pytest.raises(SettlementError, match="no epoch 7"):
            await settle_service.close(
                session=session, chat_id=CHAT, number=7, params=AllocationParams(pool=5)
            )
    with pytest.raises(SettlementError, match="smaller than the 3 members"):
        await close(sessions, 2)
    async with transaction(sessions) as session:
        with pytest.raises(SettlementError, match="no settlement"):
            await settle_service.publish(session=session, chat_id=CHAT, number=1)
    record = await close(sessions, 3)
    assert record.unlinked == {"2": "1", "3": "1"} and record.held_back == "2"
    with pytest.raises(SettlementError, match="already settled"):
        await close(sessions, 3)


async def test_excluded_members_get_nothing(sessions: Sessions) -> None:
    await seed(sessions, {1: 5, 2: 5}, evm={1: evm(1), 2: evm(2)})
    async with transaction(sessions) as session:
        session.add(Standing(chat_id=CHAT, member_id=2, status="excluded", reason="sybil"))
    record = await close(sessions, 10)
    async with sessions() as session:
        rows = (await session.exec(select(SettlementRow))).scalars().all()  # type: ignore[call-overload]
        verdict = await settle_service.verify(session=session, chat_id=CHAT, number=1)
    assert [(r.member_id, r.amount) for r in rows] == [(1, "10")]
    assert record.solana_root is None and verdict.ok


async def test_concurrent_closes_settle_once(sessions: Sessions) -> None:
    await seed(sessions, {1: 1, 2: 2}, evm={1: evm(1), 2: evm(2)})
    results = await asyncio.gather(*(close(sessions, 30) for _ in range(3)), return_exceptions=True)
    settled = [r for r in results if isinstance(r, Record)]
    assert len(settled) == 1, results
    assert all(isinstance(r, SettlementError) for r in results if r not in settled), results
    async with sessions() as session:
        count = (await session.exec(select(func.count()).select_from(Record))).one()  # type: ignore[call-overload]
        open_epochs = (await session.exec(select(func.count()).select_from(Epoch))).one()  # type: ignore[call-overload]
    assert count[0] == 1 and open_epochs[0] == 2
