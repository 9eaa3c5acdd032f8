"""Our C Keccak-256 against pycryptodome's, at every vector width; and builds on either path."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from Crypto.Hash import keccak
from eth_utils import to_checksum_address

from tests.wallet.conftest import require_native
from wallet import keccak_native, merkle_hash
from wallet.merkle import StandardMerkleTree
from wallet.merkle_abi import EVM_CLAIM_ENCODING, SOLANA_CLAIM_ENCODING, standard_leaf_hash
from wallet.merkle_claims import write_claims, write_dump
from wallet.merkle_core import is_valid_tree, make_tree, standard_layout
from wallet.merkle_csv import build_tree, parse_allocations

# Around the 136-byte block: empty, one byte of padding left (135), a block exactly, one over.
LENGTHS = [*range(0, 300, 11), 31, 32, 40, 64, 96, 134, 135, 136, 137, 271, 272, 273, 300]
COUNTS = [1, 3, 4, 7, 8, 9, 17]  # whole vectors and the ones the last group leaves part empty


@pytest.fixture
def built() -> None:
    require_native()


def reference(message: bytes) -> bytes:
    return keccak.new(data=message, digest_bits=256).digest()


@pytest.fixture(params=[1, 4, 8], ids=lambda w: f"width{w}")
def width(request: pytest.FixtureRequest) -> Iterator[int]:
    """Runs a test with 1, 4 and 8 messages per permutation (those this CPU runs)."""
    require_native()
    if keccak_native.set_width(request.param) != request.param:
        # The 4- and 8-wide code needs AVX2 and AVX-512; the 1-wide code runs everywhere.
        keccak_native.set_width(0)
        pytest.skip(f"this CPU has no {request.param}-wide vectors")
    yield request.param
    keccak_native.set_width(0)


def test_library_is_built_where_a_compiler_is() -> None:
    require_native()
    assert keccak_native.available()


@pytest.mark.usefixtures("built")
def test_no_fork_with_the_library(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(merkle_hash.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert not merkle_hash._can_fork()


def test_batches_match_pycryptodome_at_every_length(width: int) -> None:
    rng = random.Random(width)
    for length in LENGTHS:
        for count in COUNTS:
            messages = [rng.randbytes(length) for _ in range(count)]
            digests = [reference(m) for m in messages]
            assert [keccak_native.keccak256(m) for m in messages] == digests
            if length:
                data = b"".join(messages)
                assert keccak_native.keccak256_batch(data, length) == b"".join(digests)
                twice = b"".join(reference(d) for d in digests)
                assert keccak_native.leaf_hashes(data, length) == twice


@pytest.mark.parametrize("encoding", [EVM_CLAIM_ENCODING, SOLANA_CLAIM_ENCODING])
def test_claim_leaves_match_the_abi_encoder(width: int, encoding: tuple[str, ...]) -> None:
    rng = random.Random(len(encoding[1]))
    size = 20 if encoding == EVM_CLAIM_ENCODING else 32
    for count in COUNTS:
        rows = [
            (rng.getrandbits(256), rng.randbytes(size), rng.getrandbits(256)) for _ in range(count)
        ]
        leaves = keccak_native.claim_leaves(
            b"".join(i.to_bytes(32, "big") for i, _, _ in rows),
            b"".join(account for _, account, _ in rows),
            b"".join(m.to_bytes(32, "big") for _, _, m in rows),
        )
        assert leaves == b"".join(standard_leaf_hash(encoding, row) for row in rows)


@pytest.mark.usefixtures("built")
def test_claim_leaves_refuse_uneven_columns() -> None:
    with pytest.raises(ValueError, match="per claim"):
        keccak_native.claim_leaves(bytes(64), bytes(40), bytes(32))
    with pytest.raises(ValueError, match="per claim"):
        keccak_native.claim_leaves(bytes(64), bytes(50), bytes(64))
    assert keccak_native.claim_leaves(b"", b"", b"") == b""


def test_merkle_level_hashes_sorted_children(width: int) -> None:
    rng = random.Random(7)
    nodes = [rng.randbytes(32) for _ in range(41)]
    nodes[30] = nodes[29]  # equal children
    tree = bytearray(b"".join(nodes))
    keccak_native.merkle_level(tree, 3, 19)
    for i in range(41):
        expected = nodes[i]
        if 3 <= i <= 19:
            left, right = sorted([nodes[2 * i + 1], nodes[2 * i + 2]])
            expected = reference(left + right)
        assert tree[32 * i : 32 * i + 32] == expected


@pytest.mark.usefixtures("built")
def test_batches_refuse_a_ragged_buffer() -> None:
    for length in (0, -1, 3):
        with pytest.raises(ValueError, match="no whole number"):
            keccak_native.keccak256_batch(b"abcd", length)
        with pytest.raises(ValueError, match="no whole number"):
            keccak_native.leaf_hashes(b"abcd", length)


@pytest.mark.usefixtures("built")
def test_merkle_level_refuses_nodes_outside_the_tree() -> None:
    with pytest.raises(ValueError, match="out of the tree"):
        keccak_native.merkle_level(bytearray(32 * 5), 1, 2)
    with pytest.raises(ValueError, match="out of the tree"):
        keccak_native.merkle_level(bytearray(32 * 5), 2, 1)


def test_eip55_matches_eth_utils(width: int) -> None:
    rng = random.Random(55)
    for count in [*COUNTS, 1500]:  # 1500 spans two of the library's chunks
        raw = rng.randbytes(20 * count)
        expected = [to_checksum_address(raw[i : i + 20]) for i in range(0, len(raw), 20)]
        assert keccak_native.eip55(raw).decode() == "".join(a + "\n" for a in expected)


def test_hash_level_reads_every_child_before_writing(backend: str) -> None:
    rng = random.Random(3)
    nodes = [rng.randbytes(32) for _ in range(31)]
    tree = bytearray(b"".join(nodes))
    merkle_hash.hash_level(tree, 0, 14)
    expected = [merkle_hash.node_hash(nodes[2 * i + 1], nodes[2 * i + 2]) for i in range(15)]
    assert bytes(tree) == b"".join(expected + nodes[15:])


def test_make_tree_is_valid_on_every_path(backend: str) -> None:
    leaves = [reference(bytes([i])) for i in range(37)]
    tree = make_tree(leaves)
    assert len(tree) == 73
    assert is_valid_tree(tree)
    assert not is_valid_tree([*tree[:5], bytes(32), *tree[6:]])
    assert make_tree(leaves[:1]) == leaves[:1]
    assert is_valid_tree(leaves[:1])


@pytest.mark.parametrize("count", [1, 2, 3, 8, 37, 300])
@pytest.mark.parametrize("sort_leaves", [True, False])
def test_standard_layout_matches_on_every_path(backend: str, count: int, sort_leaves: bool) -> None:
    rng = random.Random(count)
    # a few leaves repeat, some share their first 8 bytes: the sort must be stable and compare
    # whole leaves
    leaves = [rng.choice([bytes(8), b"\xff" * 8]) + rng.randbytes(24) for _ in range(count)]
    leaves[count // 2] = leaves[0]
    order = sorted(range(count), key=leaves.__getitem__) if sort_leaves else range(count)
    expected = make_tree([leaves[i] for i in order])
    tree, tree_indices = standard_layout(leaves, sort_leaves)
    assert tree == expected
    assert [tree[node] for node in tree_indices] == leaves
    assert sorted(tree_indices) == list(range(count - 1, 2 * count - 1))
    if count > 1:  # equal leaves keep their order: the earlier value sits at the later node
        assert tree_indices[0] > tree_indices[count // 2]


@pytest.mark.usefixtures("built")
def test_standard_tree_refuses_no_leaves() -> None:
    with pytest.raises(ValueError, match="at least one leaf"):
        keccak_native.standard_tree(b"", True)


def _csv(rows: int, seed: int) -> str:
    rng = random.Random(seed)
    addresses = [to_checksum_address(rng.randbytes(20)) for _ in range(rows)]
    return "".join(f"{i},{a},{rng.randrange(10**24)}\n" for i, a in enumerate(addresses))


def _files(text: str, tmp: Path) -> tuple[str, bytes, bytes]:
    rows = parse_allocations(text)
    tree = build_tree(rows)
    with (tmp / "dump.json").open("wb") as dump, (tmp / "claims.json").open("wb") as claims:
        write_dump(tree, dump)
        write_claims(tree, rows, claims)
    return tree.root, (tmp / "dump.json").read_bytes(), (tmp / "claims.json").read_bytes()


@pytest.mark.usefixtures("built")
def test_builds_are_byte_identical_on_every_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    text = _csv(1000, 1000)
    native = _files(text, tmp_path)
    assert StandardMerkleTree.load(json.loads(native[1])).root == native[0]
    with monkeypatch.context() as patch:
        patch.setattr(keccak_native, "_library", lambda: None)
        assert _files(text, tmp_path) == native
        patch.setattr(merkle_hash, "_backend", lambda: None)
        assert _files(text, tmp_path) == native
