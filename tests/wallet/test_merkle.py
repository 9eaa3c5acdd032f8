"""StandardMerkleTree: public vectors, OpenZeppelin semantics, and proof properties."""

from __future__ import annotations

import json

import pytest
from eth_abi import encode as eth_abi_encode
from eth_utils import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from wallet import keccak_native, merkle_hash
from wallet.merkle import (
    MerkleTreeError,
    StandardMerkleTree,
    evm_claim_leaf,
    solana_claim_leaf,
    verify,
)
from wallet.merkle_abi import (
    EVM_CLAIM_ENCODING,
    SOLANA_CLAIM_ENCODING,
    abi_encode,
    claim_leaf_hashes,
    standard_leaf_hash,
)
from wallet.merkle_hash import checksum_addresses, keccak256, keccak256_many

A1 = "0x1111111111111111111111111111111111111111"
A2 = "0x2222222222222222222222222222222222222222"
README_VALUES = [[A1, "5000000000000000000"], [A2, "2500000000000000000"]]
README_ROOT = "0xd4dee0beab2d53f2cc83e567171bd2820e49898130a22622b10ead383e90bd77"
README_PROOF = ["0xb92c48e9d7abe27fd8dfd6b5dfdbfb1c9a463f80c712b66f3a5180a090cccafc"]

# Roots of OpenZeppelin's own test dumps (standard-v1, values "a".."f", encoding ["string"]).
OZ_DUMP_ROOTS = [
    (True, "0x6deb52b5da8fd108f79fab00341f38d2587896634c646ee52e49f845680a70c8"),
    (False, "0x23be0977360f08bb0bd7f709a7d543d2cd779c79c66d74e0441919871647de2b"),
]

KECCAK_VECTORS = [
    (b"", "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"),
    (b"abc", "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"),
    (
        b"The quick brown fox jumps over the lazy dog",
        "4d741b6f1eb29cb2a9b9911c82f56fa8d73b04959d3d9d222895df6c0b28aa15",
    ),
]

# EIP-55's own examples.
EIP55 = [
    "0x52908400098527886E0F7030069857D2E4169EE7",
    "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
    "0xde709f2102306220921060314715629080e2fb77",
    "0x27b1fdb04752bbc536007a920d24acb045561c26",
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]

addresses = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
uint256 = st.integers(min_value=0, max_value=2**256 - 1)
evm_rows = st.lists(
    st.tuples(addresses, uint256), min_size=1, max_size=40, unique_by=lambda r: r[0]
)


def test_fast_path_is_enabled_here() -> None:
    assert merkle_hash.fast_path_enabled()


@pytest.mark.parametrize(("data", "digest"), KECCAK_VECTORS)
def test_keccak256_vectors(backend: str, data: bytes, digest: str) -> None:
    assert keccak256(data).hex() == digest
    assert [d.hex() for d in keccak256_many([data] * 5)] == [digest] * 5


def test_builds_below_the_parallel_size_never_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    def fork() -> int:
        raise AssertionError("forked")

    monkeypatch.setattr(merkle_hash, "_can_fork", lambda: True)
    monkeypatch.setattr(merkle_hash.os, "fork", fork)
    count = 50_000
    assert count < merkle_hash.PARALLEL_MIN
    raw = bytes(range(200)) * (count // 10)
    assert len(checksum_addresses(raw)) == count
    leaves = claim_leaf_hashes(list(range(count)), [raw[:20]] * count, list(range(count)))
    assert leaves[7] == standard_leaf_hash(EVM_CLAIM_ENCODING, [7, raw[:20], 7])


def test_large_batches_hashed_by_a_forked_child_match(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keccak_native, "_library", lambda: None)  # the arena path forks
    messages = [i.to_bytes(64, "big") for i in range(101)]
    expected = [keccak256(m) for m in messages]
    raw = bytes(range(200)) * 7
    addresses = [to_checksum_address(raw[i : i + 20]) for i in range(0, len(raw), 20)]
    monkeypatch.setattr(merkle_hash, "PARALLEL_MIN", 10)
    monkeypatch.setattr(merkle_hash, "_can_fork", lambda: True)
    assert merkle_hash.hash_fixed(messages, 64) == expected
    assert checksum_addresses(raw) == addresses
    tree = StandardMerkleTree.of(README_VALUES * 20, ["address", "uint256"])
    assert all(tree.verify(i, tree.get_proof(i)) for i in range(40))
    values = [[i, A1, i] for i in range(45)]
    done: list[int] = []
    leaves = claim_leaf_hashes(
        list(range(45)), [bytes.fromhex(A1[2:])] * 45, list(range(45)), done.append
    )
    assert sum(done) == 45
    assert leaves == [standard_leaf_hash(EVM_CLAIM_ENCODING, v) for v in values]

    def no_fork() -> int:
        raise OSError("no more processes")

    monkeypatch.setattr(merkle_hash.os, "fork", no_fork)
    assert merkle_hash.hash_fixed(messages, 64) == expected


def test_keccak256_many_matches_single_hashes_across_lengths(backend: str) -> None:
    messages = [bytes([length % 251]) * length for length in range(0, 300, 7)]
    expected = [keccak256(m) for m in messages]
    assert keccak256_many(messages) == expected
    assert keccak256_many([]) == []


@pytest.mark.parametrize("address", EIP55)
def test_checksum_addresses_eip55_examples(backend: str, address: str) -> None:
    assert checksum_addresses(bytes.fromhex(address[2:])) == [address]


@given(st.lists(st.binary(min_size=20, max_size=20), max_size=30))
def test_checksum_addresses_match_eth_utils(raw: list[bytes]) -> None:
    assert checksum_addresses(b"".join(raw)) == [to_checksum_address(a) for a in raw]


def test_checksum_addresses_rejects_partial_address() -> None:
    with pytest.raises(ValueError, match="20-byte"):
        checksum_addresses(bytes(21))


def test_readme_vector(backend: str) -> None:
    tree = StandardMerkleTree.of(README_VALUES, ["address", "uint256"])
    assert tree.root == README_ROOT
    assert tree.get_proof(0) == README_PROOF
    assert tree.get_proof(README_VALUES[0]) == README_PROOF
    assert tree.verify(0, README_PROOF)
    assert StandardMerkleTree.verify(
        README_ROOT, ["address", "uint256"], README_VALUES[0], README_PROOF
    )
    assert not StandardMerkleTree.verify(
        README_ROOT, ["address", "uint256"], [A1, "5000000000000000001"], README_PROOF
    )


@pytest.mark.parametrize(("sort_leaves", "root"), OZ_DUMP_ROOTS)
def test_openzeppelin_dump_roots(sort_leaves: bool, root: str) -> None:
    tree = StandardMerkleTree.of([[c] for c in "abcdef"], ["string"], sort_leaves=sort_leaves)
    assert tree.root == root
    reloaded = StandardMerkleTree.load(json.loads(json.dumps(tree.dump())))
    assert reloaded.root == root
    assert [reloaded.get_proof(i) for i in range(6)] == [tree.get_proof(i) for i in range(6)]


ABI_CASES = [
    (["uint256"], [2**256 - 1]),
    (["uint8", "uint64"], [255, "0x10"]),
    (["int256", "int8"], [-1, -128]),
    (["address", "bool", "bool"], [A1, True, "false"]),
    (["bytes32", "bytes4"], ["0x" + "ab" * 32, b"\x01\x02"]),
    (["string"], ["héllo wörld, a string longer than thirty-two bytes"]),
    (["bytes", "uint256", "string"], ["0x", 7, ""]),
    (["bytes", "string"], [b"\x00" * 33, "x"]),
]


def _eth_abi_value(type_: str, value: object) -> object:
    """The same value in the form eth_abi takes."""
    if type_.startswith(("uint", "int")) and isinstance(value, str):
        return int(value, 0)
    if type_ == "bool" and isinstance(value, str):
        return value == "true"
    if type_.startswith("bytes") and isinstance(value, str):
        value = bytes.fromhex(value[2:])
    if type_ == "bytes4" and isinstance(value, bytes):
        return value.ljust(4, b"\0")
    return value


@pytest.mark.parametrize(("types", "values"), ABI_CASES)
def test_abi_encode_matches_eth_abi(types: list[str], values: list[object]) -> None:
    normalized = [_eth_abi_value(t, v) for t, v in zip(types, values, strict=True)]
    assert abi_encode(types, values) == eth_abi_encode(types, normalized)


@pytest.mark.parametrize(
    ("types", "values", "message"),
    [
        (["uint8"], [256], "out of range"),
        (["uint256"], [-1], "out of range"),
        (["uint256"], [True], "Invalid number"),
        (["uint256"], ["12abc"], "Invalid number"),
        (["address"], ["0x" + "11" * 21], "20 bytes"),
        (["bytes2"], ["0x010203"], "length 2"),
        (["bool"], [1], "boolean"),
        (["uint256", "uint256"], [1], "Expected 2 values"),
        (["tuple"], [1], "Unsupported"),
        (["uint7"], [1], "Unsupported"),
    ],
)
def test_abi_encode_rejects(types: list[str], values: list[object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        abi_encode(types, values)


def test_claim_schemas_match_the_generic_encoder(backend: str) -> None:
    evm = [[3, A1, 10**18], ["4", A2.upper().replace("0X", "0x"), "0x05"]]
    solana = [[0, "0x" + "ab" * 32, 1], [1, bytes(range(32)), 2]]
    for encoding, values in ((EVM_CLAIM_ENCODING, evm), (SOLANA_CLAIM_ENCODING, solana)):
        tree = StandardMerkleTree.of(values, encoding)
        for i, value in enumerate(values):
            leaf = merkle_hash.keccak256(merkle_hash.keccak256(abi_encode(encoding, value)))
            assert tree.nodes[tree.tree_indices[i]] == leaf == standard_leaf_hash(encoding, value)


def test_claim_leaf_helpers() -> None:
    evm = StandardMerkleTree.of([[9, A1, 10**18]], EVM_CLAIM_ENCODING)
    assert (
        evm.nodes[0]
        == evm_claim_leaf(9, A1, 10**18)
        == evm_claim_leaf(9, bytes.fromhex(A1[2:]), 10**18)
    )
    owner = bytes(range(32))
    solana = StandardMerkleTree.of([[1, owner, 5]], SOLANA_CLAIM_ENCODING)
    assert solana.nodes[0] == solana_claim_leaf(1, owner, 5)
    with pytest.raises(ValueError, match="32-byte"):
        solana_claim_leaf(1, owner[:31], 5)


def test_tree_shape_and_lookup() -> None:
    values = [[i, A1, i * 10] for i in range(7)]
    tree = StandardMerkleTree.of(values, EVM_CLAIM_ENCODING)
    assert len(tree.nodes) == 2 * 7 - 1 and len(tree) == 7
    assert sorted(tree.tree_indices) == list(range(6, 13))
    leaves = [tree.nodes[t] for t in sorted(tree.tree_indices, reverse=True)]
    assert leaves == sorted(leaves)  # sorted by hash, leaf 0 at the end of the array
    assert tree.leaf_lookup([5, A1, 50]) == 5
    assert tree.at(3) == values[3] and tree.at(7) is None
    assert list(tree.entries())[2] == (2, values[2])
    assert tree.leaf_hash(values[1]) == "0x" + tree.nodes[tree.tree_indices[1]].hex()
    assert tree.render().splitlines()[0] == f"0) {tree.root}"


def test_unsorted_tree_keeps_value_order() -> None:
    values = [[i, A2, 1] for i in range(5)]
    tree = StandardMerkleTree.of(values, EVM_CLAIM_ENCODING, sort_leaves=False)
    assert list(tree.tree_indices) == [8, 7, 6, 5, 4]
    assert all(tree.verify(i, tree.get_proof(i)) for i in range(5))


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 8, 13])
def test_multiproofs_verify(size: int) -> None:
    values = [[i, A1, i] for i in range(size)]
    tree = StandardMerkleTree.of(values, EVM_CLAIM_ENCODING)
    for indices in ([], [0], list(range(size)), list(range(0, size, 2))):
        multiproof = tree.get_multi_proof(indices)
        assert sorted(map(tuple, multiproof["leaves"])) == sorted(tuple(values[i]) for i in indices)
        assert tree.verify_multi_proof(multiproof)
        assert StandardMerkleTree.verify_multi_proof(tree.root, EVM_CLAIM_ENCODING, multiproof)
        if indices:
            tampered = {**multiproof, "leaves": [[0, A2, 0]] + multiproof["leaves"][1:]}
            assert not tree.verify_multi_proof(tampered)


def test_errors_mirror_openzeppelin() -> None:
    tree = StandardMerkleTree.of(README_VALUES, ["address", "uint256"])
    cases = [
        (lambda: StandardMerkleTree.of([], ["uint256"]), "non-zero number of leaves"),
        (lambda: StandardMerkleTree.of([1, 2], ["uint256"]), "cannot be numbers"),
        (lambda: tree.get_proof(2), "out of bounds"),
        (lambda: tree.get_proof(-1), "out of bounds"),
        (lambda: tree.get_proof([A1, "1"]), "not in tree"),
        (lambda: tree.get_multi_proof([0, 0]), "duplicated index"),
        (lambda: tree.verify(0, ["0x1234"]), "length 32"),
        (lambda: tree.verify(5, README_PROOF), "out of bounds"),
    ]
    for call, message in cases:
        with pytest.raises(MerkleTreeError, match=message):
            call()


def test_load_validates() -> None:
    dump = StandardMerkleTree.of(README_VALUES, ["address", "uint256"]).dump()
    assert StandardMerkleTree.load(dump).root == README_ROOT
    broken = [
        ({**dump, "format": "nope"}, "Unknown format"),
        ({k: v for k, v in dump.items() if k != "leafEncoding"}, "leaf encoding"),
        ({**dump, "tree": [dump["tree"][0], dump["tree"][2], dump["tree"][1]]}, "expected value"),
        ({**dump, "tree": ["0x" + "00" * 32, *dump["tree"][1:]]}, "invalid"),
        ({**dump, "tree": [*dump["tree"], dump["tree"][0]]}, "invalid"),
        (
            {**dump, "tree": [*dump["tree"][:2], "0x" + dump["tree"][2][2:].upper()]},
            "expected value",
        ),
        ({**dump, "values": [{"value": [A1, "1"], "treeIndex": 1}]}, "expected value"),
        ({**dump, "values": [{"value": README_VALUES[0], "treeIndex": 9}]}, "expected value"),
    ]
    for data, message in broken:
        with pytest.raises(MerkleTreeError, match=message):
            StandardMerkleTree.load(data)


def test_dump_writes_ints_as_decimal_strings_and_bytes_as_hex() -> None:
    tree = StandardMerkleTree.of([[7, bytes(range(32)), True]], ["uint256", "bytes32", "bool"])
    assert tree.dump()["values"] == [
        {"value": ["7", "0x" + bytes(range(32)).hex(), True], "treeIndex": 0}
    ]
    assert StandardMerkleTree.load(tree.dump()).root == tree.root


def test_verify_function_accepts_bytes() -> None:
    proof = [bytes.fromhex(p[2:]) for p in README_PROOF]
    assert verify(bytes.fromhex(README_ROOT[2:]), ["address", "uint256"], README_VALUES[0], proof)


@settings(max_examples=40, deadline=None)
@given(evm_rows, st.data())
def test_every_proof_verifies_and_other_amounts_fail(
    rows: list[tuple[str, int]], data: st.DataObject
) -> None:
    values = [[i, account, amount] for i, (account, amount) in enumerate(rows)]
    tree = StandardMerkleTree.of(values, EVM_CLAIM_ENCODING)
    for i, value in enumerate(values):
        proof = tree.get_proof(i)
        assert StandardMerkleTree.verify(tree.root, EVM_CLAIM_ENCODING, value, proof)
        other = data.draw(uint256.filter(lambda a, v=value: a != v[2]))
        assert not StandardMerkleTree.verify(
            tree.root, EVM_CLAIM_ENCODING, [i, value[1], other], proof
        )
        assert not StandardMerkleTree.verify(
            tree.root, EVM_CLAIM_ENCODING, [i + len(values), value[1], value[2]], proof
        )


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.binary(min_size=32, max_size=32), uint256), min_size=1, max_size=30))
def test_solana_schema_proofs_verify(rows: list[tuple[bytes, int]]) -> None:
    values = [[i, owner, amount] for i, (owner, amount) in enumerate(rows)]
    tree = StandardMerkleTree.of(values, SOLANA_CLAIM_ENCODING)
    reloaded = StandardMerkleTree.load(json.loads(json.dumps(tree.dump())))
    assert reloaded.root == tree.root
    for i in range(len(values)):
        assert reloaded.verify(i, tree.get_proof(i))


def test_double_hash_rows_joins_columns(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(merkle_hash, "_CHUNK", 7)  # several arena chunks
    rows = [bytes([i]) * 40 + i.to_bytes(56, "big") for i in range(30)]
    columns = [[r[:40] for r in rows], [r[40:] for r in rows]]
    expected = b"".join(keccak256(keccak256(r)) for r in rows)
    assert merkle_hash.double_hash_rows(columns, 30, 96) == expected


def test_claim_leaf_hashes_refuse_mixed_account_widths() -> None:
    with pytest.raises(ValueError, match="all be 20-byte addresses"):
        claim_leaf_hashes([0, 1], [bytes(20), bytes(32)], [1, 1])
