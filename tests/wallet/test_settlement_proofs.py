"""Proof lookups of published settlements: one indexed query, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json

import pytest
from eth_abi import encode
from eth_utils import keccak

from core.db import create_engine, session_factory, transaction
from core.migrate import upgrade
from core.models_claims import SettlementRow
from engagement import settle_service
from tests.engagement.test_settlement_store import CHAT, SOL, Sessions, close, evm, seed, sessions
from wallet import settlement_store as store
from wallet.merkle import StandardMerkleTree
from wallet.merkle_core import process_proof
from wallet.settlement_proofs import ClaimRow, NodeCache, claim_calldata, claim_row

__all__ = ["sessions"]  # the fixture, parametrized over SQLite and PostgreSQL


async def _published(sessions: Sessions) -> store.SettlementRecord:
    await seed(
        sessions, {1: 1, 2: 3, 3: 4, 4: 2}, evm={1: evm(1), 2: evm(2), 4: evm(4)}, solana={3: SOL}
    )
    await close(sessions, 1000)
    async with transaction(sessions) as session:
        return await settle_service.publish(session=session, chat_id=CHAT, number=1, allowance=400)


async def test_published_proofs_lead_to_the_root(sessions: Sessions) -> None:
    record = await _published(sessions)
    async with sessions() as session:
        dump = await settle_service.artefact(
            session=session, settlement_id=record.id or 0, name="evm/dump.json"
        )
    assert dump is not None
    tree = StandardMerkleTree.load(json.loads(dump.body))
    for member, amount in ((1, "100"), (2, "300"), (4, "200")):
        row, proof = await store.published_proof(
            sessions=sessions, record=record, account=evm(member).upper().replace("0X", "0x")
        )
        assert (row.chain, row.account, row.amount) == ("evm", evm(member), amount)
        leaf = tree.leaf_hash([str(row.index), evm(member), amount])
        assert process_proof(leaf, proof) == tree.root == record.evm_root
    row, proof = await store.published_proof(sessions=sessions, record=record, account=SOL)
    assert (row.chain, row.amount, len(proof)) == ("solana", "400", 0)


@pytest.mark.parametrize("account", [evm(3), evm(9), "0x12", "not-a-key"])
async def test_accounts_without_a_claim_are_refused(sessions: Sessions, account: str) -> None:
    record = await _published(sessions)
    with pytest.raises(store.ClaimLookupError):
        await store.published_proof(sessions=sessions, record=record, account=account)


def test_calldata_matches_the_abi_encoder() -> None:
    proof = ["0x" + bytes([i]).hex() * 32 for i in range(5)]
    for index, amount, nodes in ((0, 0, []), (7, 10**24, proof), (2**255, 2**256 - 1, proof[:1])):
        account = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
        args = encode(
            ["uint256", "address", "uint256", "bytes32[]"],
            [index, account, amount, [bytes.fromhex(p[2:]) for p in nodes]],
        )
        selector = keccak(text="claim(uint256,address,uint256,bytes32[])")[:4]
        assert claim_calldata(index, account, amount, nodes) == "0x" + (selector + args).hex()


async def test_node_cache_keeps_the_most_recent_trees() -> None:
    cache, loads = NodeCache(kept=2), []

    def loader(root: str):  # type: ignore[no-untyped-def]
        async def load() -> bytes | None:
            loads.append(root)
            return None if root == "none" else root.encode()

        return load

    for root in ("a", "b", "a", "c", "a", "b"):
        assert await cache.get(root, loader(root)) == root.encode()
    assert loads == ["a", "b", "c", "b"]
    assert await cache.get("none", loader("none")) is None
    assert await cache.get("a", loader("a")) == b"a" and loads[-1] == "none"


async def test_sqlite_lookups_see_rows_committed_after_the_first(sqlite_url: str) -> None:
    await asyncio.to_thread(upgrade, sqlite_url)
    engine = create_engine(sqlite_url)
    try:
        sessions = session_factory(engine)
        record = await _published(sessions)
        assert await claim_row(engine, record.id or 0, "evm", 0) is not None
        assert await claim_row(engine, record.id or 0, "evm", 99) is None
        async with transaction(sessions) as session:
            session.add(
                SettlementRow(
                    settlement_id=record.id or 0, chain="evm", index=99, member_id=77,
                    account=evm(77), amount="5", tree_index=3,
                )
            )  # fmt: skip
        row = await claim_row(engine, record.id or 0, "evm", 99)
        assert row == ClaimRow("evm", 99, evm(77), "5", 3)
    finally:
        await engine.dispose()
