"""Byte-compatibility with `@openzeppelin/merkle-tree` 1.0.8, run through node.

Every case builds the same tree here and with the npm package (`tests/tools/oz_merkle.mjs`) and
compares roots, every proof, multiproofs and dumps; dumps are then loaded across.
"""

from __future__ import annotations

import io
import json
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eth_utils import to_checksum_address

from wallet.merkle import EVM_CLAIM_ENCODING, SOLANA_CLAIM_ENCODING, StandardMerkleTree
from wallet.merkle_claims import write_dump
from wallet.merkle_csv import build_tree, parse_allocations

pytestmark = pytest.mark.chain

ROOT = Path(__file__).resolve().parents[2]
HELPER = ROOT / "tests" / "tools" / "oz_merkle.mjs"
SIZES = [1, 2, 3, 7, 100]


def oz(request: dict[str, Any]) -> Any:
    """Runs one request (or a batch) through the npm package."""
    done = subprocess.run(
        ["node", str(HELPER)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout)


def evm_values(size: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    return [
        [str(i), to_checksum_address(rng.randbytes(20)), str(rng.randrange(10**27))]
        for i in range(size)
    ]


def solana_values(size: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    return [
        [str(i), "0x" + rng.randbytes(32).hex(), str(rng.randrange(2**64))] for i in range(size)
    ]


def mixed_values(size: int, seed: int) -> list[list[Any]]:
    rng = random.Random(seed)
    return [
        [
            "0x" + rng.randbytes(20).hex(),
            rng.random() < 0.5,
            f"name {i} " * (i % 5),
            "0x" + rng.randbytes(i % 40).hex(),
            str(-i),
        ]
        for i in range(size)
    ]


MIXED = ["address", "bool", "string", "bytes", "int64"]
CASES = [
    *[(f"evm-{n}", evm_values(n, n), list(EVM_CLAIM_ENCODING), True) for n in SIZES],
    *[(f"solana-{n}", solana_values(n, n), list(SOLANA_CLAIM_ENCODING), True) for n in SIZES],
    *[(f"mixed-{n}", mixed_values(n, n), MIXED, True) for n in (1, 7, 33)],
    ("evm-unsorted-9", evm_values(9, 9), list(EVM_CLAIM_ENCODING), False),
    (
        "readme",
        [
            ["0x1111111111111111111111111111111111111111", "5000000000000000000"],
            ["0x2222222222222222222222222222222222222222", "2500000000000000000"],
        ],
        ["address", "uint256"],
        True,
    ),
]


def multi_sets(size: int) -> list[list[int]]:
    return [[], [0], list(range(size)), list(range(0, size, 3)), [size - 1, 0]][
        : 5 if size > 1 else 3
    ]


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    """OpenZeppelin's answers for every case, from one node process."""
    requests = [
        {
            "op": "build",
            "values": values,
            "encoding": encoding,
            "sortLeaves": sort,
            "multi": multi_sets(len(values)),
        }
        for _, values, encoding, sort in CASES
    ]
    answers = oz({"op": "batch", "requests": requests})
    return {name: answer for (name, *_), answer in zip(CASES, answers, strict=True)}


@pytest.mark.parametrize(("name", "values", "encoding", "sort"), CASES, ids=[c[0] for c in CASES])
def test_same_tree_as_openzeppelin(
    reference: dict[str, Any], name: str, values: list[Any], encoding: list[str], sort: bool
) -> None:
    expected = reference[name]
    assert expected["verified"]
    tree = StandardMerkleTree.of(values, encoding, sort_leaves=sort)
    assert tree.root == expected["root"]
    assert [tree.get_proof(i) for i in range(len(values))] == expected["proofs"]
    assert [tree.get_multi_proof(m) for m in multi_sets(len(values))] == expected["multiproofs"]
    assert tree.dump() == expected["dump"]
    assert StandardMerkleTree.load(expected["dump"]).root == expected["root"]


def test_openzeppelin_loads_our_dumps() -> None:
    trees = [
        StandardMerkleTree.of(values, encoding, sort_leaves=sort)
        for _, values, encoding, sort in CASES
    ]
    answers = oz({"op": "batch", "requests": [{"op": "load", "dump": t.dump()} for t in trees]})
    for tree, answer in zip(trees, answers, strict=True):
        assert answer.get("error") is None
        assert answer["root"] == tree.root
        assert answer["proofs"] == [tree.get_proof(i) for i in range(len(tree))]


def test_both_reject_the_same_tampered_dumps() -> None:
    dump = StandardMerkleTree.of(evm_values(5, 1), list(EVM_CLAIM_ENCODING)).dump()
    other = evm_values(1, 2)[0]
    tampered = [
        {**dump, "format": "standard-v2"},
        {**dump, "tree": [dump["tree"][1], dump["tree"][0], *dump["tree"][2:]]},
        {**dump, "values": [{**dump["values"][0], "value": other}, *dump["values"][1:]]},
        {**dump, "values": [{**dump["values"][0], "treeIndex": 8}, *dump["values"][1:]]},
    ]
    answers = oz({"op": "batch", "requests": [{"op": "load", "dump": d} for d in tampered]})
    for data, answer in zip(tampered, answers, strict=True):
        assert answer.get("error")
        with pytest.raises(ValueError):
            StandardMerkleTree.load(data)


def test_csv_builder_dump_matches_openzeppelin() -> None:
    values = evm_values(257, 7)
    text = "index,address,amount\n" + "".join(f"{i},{a},{m}\n" for i, a, m in values)
    tree = build_tree(parse_allocations(text))
    out = io.BytesIO()
    write_dump(tree, out)
    expected = oz({"op": "build", "values": values, "encoding": list(EVM_CLAIM_ENCODING)})
    assert json.loads(out.getvalue()) == expected["dump"]
    assert tree.root == expected["root"]


def test_solana_csv_builder_matches_openzeppelin() -> None:
    import base58

    rng = random.Random(5)
    owners = [rng.randbytes(32) for _ in range(50)]
    text = "".join(f"{base58.b58encode(o).decode()},{i * 7}\n" for i, o in enumerate(owners))
    tree = build_tree(parse_allocations(text, chain="solana"))
    values = [[str(i), "0x" + o.hex(), str(i * 7)] for i, o in enumerate(owners)]
    expected = oz({"op": "build", "values": values, "encoding": list(SOLANA_CLAIM_ENCODING)})
    assert tree.root == expected["root"]
    assert [tree.get_proof(i) for i in range(50)] == expected["proofs"]
