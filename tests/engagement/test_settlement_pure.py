"""The pure settlement of an epoch: allocation, per-chain split, canonical trees, digest."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from solders.keypair import Keypair

from engagement.settlement import (
    AllocationParams,
    SettlementError,
    canonical_ledger,
    ledger_digest,
    proof_from_nodes,
    settle,
)
from wallet.merkle import StandardMerkleTree
from wallet.merkle_core import process_proof

SOL = [str(Keypair.from_seed(bytes([i]) * 32).pubkey()) for i in range(1, 26)]


def evm(i: int) -> str:
    return "0x" + f"{i:040x}"


def test_split_per_chain_and_holdback() -> None:
    scores = {1: 10, 2: 20, 3: 30, 4: 40}
    out = settle(
        scores,
        AllocationParams(pool=1000),
        evm_wallets={1: evm(1), 2: evm(2)},
        solana_wallets={2: SOL[0], 3: SOL[1]},
    )
    assert out.amounts == {1: 100, 2: 200, 3: 300, 4: 400}
    assert [(r.member_id, r.index, r.amount) for r in out.trees["evm"].rows] == [
        (1, 0, 100),
        (2, 1, 200),
    ]
    assert [(r.member_id, r.index, r.account) for r in out.trees["solana"].rows] == [(3, 0, SOL[1])]
    assert out.unlinked == {4: 400}


def test_prefer_solana_moves_dual_member() -> None:
    out = settle(
        {1: 1, 2: 1},
        AllocationParams(pool=10),
        evm_wallets={1: evm(1), 2: evm(2)},
        solana_wallets={2: SOL[0]},
        prefer="solana",
    )
    assert [r.member_id for r in out.trees["solana"].rows] == [2]
    assert [r.member_id for r in out.trees["evm"].rows] == [1]


def test_dump_claims_and_proofs_agree() -> None:
    wallets = {m: evm(m) for m in range(1, 8)}
    out = settle(
        {m: m * 3 for m in wallets},
        AllocationParams(pool=10**18),
        evm_wallets=wallets,
        solana_wallets={},
    )
    tree = out.trees["evm"]
    loaded = StandardMerkleTree.load(json.loads(tree.dump))
    assert loaded.root == tree.root == out.root("evm")
    claims = json.loads(tree.claims)
    assert claims["merkleRoot"] == tree.root
    for row in tree.rows:
        leaf = loaded.leaf_hash([str(row.index), evm(row.member_id), str(row.amount)])
        proof = proof_from_nodes(tree.nodes, row.tree_index)
        assert proof == loaded.get_proof(row.index)
        assert process_proof(leaf, proof) == tree.root
        assert claims["claims"][row.account]["proof"] == proof
    assert out.root("solana") is None


@pytest.mark.parametrize(
    ("scores", "params", "excluded", "message"),
    [
        ({1: 0, 2: 0}, AllocationParams(pool=10), (), "no eligible member"),
        ({1: 5, 2: 5}, AllocationParams(pool=10), (1, 2), "no eligible member"),
        ({1: 5, 2: 1}, AllocationParams(pool=10, min_score=6), (), "no eligible member"),
        ({1: 1, 2: 1, 3: 1}, AllocationParams(pool=2), (), "smaller than the 3 members"),
        ({1: 1, 2: 1}, AllocationParams(pool=9, cap_share="0.1"), (), "cap_share"),
        ({1: 1}, AllocationParams(pool=9, transform="cube"), (), "transform"),  # type: ignore[arg-type]
    ],
)
def test_bad_input(
    scores: dict[int, int], params: AllocationParams, excluded: tuple[int, ...], message: str
) -> None:
    with pytest.raises(SettlementError, match=message):
        settle(scores, params, evm_wallets={1: evm(1)}, solana_wallets={}, excluded=excluded)


def test_bad_wallet_names_member() -> None:
    with pytest.raises(SettlementError, match="member 2"):
        settle(
            {1: 1, 2: 1},
            AllocationParams(pool=4),
            evm_wallets={1: evm(1), 2: "0xnope"},
            solana_wallets={},
        )


def test_zero_score_and_unlinked_only() -> None:
    out = settle({1: 0, 2: 4}, AllocationParams(pool=4), evm_wallets={}, solana_wallets={})
    assert out.amounts == {2: 4}
    assert out.trees == {}
    assert out.unlinked == {2: 4}


def test_digest_is_canonical() -> None:
    a = canonical_ledger([{"b": 1, "a": "x"}])
    b = canonical_ledger([{"a": "x", "b": 1}])
    assert a == b == b'{"a":"x","b":1}\n'
    assert ledger_digest(a).startswith("sha256:")
    assert ledger_digest(a) != ledger_digest(canonical_ledger([{"a": "x", "b": 2}]))
    out = settle({1: 1}, AllocationParams(pool=1), evm_wallets={}, solana_wallets={}, export=a)
    assert out.ledger_digest == ledger_digest(a)


def test_params_round_trip() -> None:
    params = AllocationParams(pool=10**30, min_score=2, cap_share="0.25", transform="sqrt")
    assert AllocationParams.from_json(json.loads(json.dumps(params.to_json()))) == params


members = st.dictionaries(st.integers(1, 10**12), st.integers(0, 10**6), min_size=1, max_size=25)


@settings(max_examples=40, deadline=None)
@given(scores=members, pool=st.integers(25, 10**24), data=st.data())
def test_deterministic_and_exact(scores: dict[int, int], pool: int, data: st.DataObject) -> None:
    ids = sorted(scores)
    evm_ids = data.draw(st.sets(st.sampled_from(ids)))
    sol_ids = data.draw(st.sets(st.sampled_from(ids)))
    evm_w = {m: evm(m) for m in evm_ids}
    sol_w = dict(zip(sorted(sol_ids - evm_ids), SOL, strict=False))
    params = AllocationParams(pool=pool)
    try:
        first = settle(scores, params, evm_wallets=evm_w, solana_wallets=sol_w)
    except SettlementError:
        assert all(s == 0 for s in scores.values())
        return
    shuffled = dict(reversed(list(scores.items())))
    again = settle(
        shuffled, params, evm_wallets=dict(reversed(list(evm_w.items()))), solana_wallets=sol_w
    )
    assert {c: t.root for c, t in first.trees.items()} == {
        c: t.root for c, t in again.trees.items()
    }
    assert {c: t.dump for c, t in first.trees.items()} == {
        c: t.dump for c, t in again.trees.items()
    }
    assert sum(first.amounts.values()) == pool
    paid = sum(r.amount for t in first.trees.values() for r in t.rows)
    assert paid + sum(first.unlinked.values()) == pool
    for tree in first.trees.values():
        assert [r.index for r in tree.rows] == list(range(len(tree.rows)))
        assert [r.member_id for r in tree.rows] == sorted(r.member_id for r in tree.rows)
