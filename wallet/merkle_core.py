"""Tree layout, proofs and multiproofs over 32-byte nodes (OpenZeppelin's `core.ts`).

The tree is a flat list of 2n-1 nodes with the root at 0; node `i` hashes its children `2i+1`
and `2i+2`; leaf `i` (in leaf order) sits at `len(tree) - 1 - i`. Hex output is `0x` lower case.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from wallet import keccak_native
from wallet.merkle_hash import Progress, hash_level, node_hash, split_digests


class MerkleTreeError(ValueError):
    """An invalid argument or an inconsistent tree (OpenZeppelin's two error kinds)."""


def require(condition: bool, message: str) -> None:
    """Raises `MerkleTreeError(message)` unless `condition` holds."""
    if not condition:
        raise MerkleTreeError(message)


def to_node(value: bytes | str) -> bytes:
    """A 32-byte node from bytes or hex, with or without `0x` (OpenZeppelin's `toBytes`).

    Raises:
        MerkleTreeError: The value is not 32 bytes of hex or bytes.
    """
    try:
        data = bytes.fromhex(value.removeprefix("0x")) if isinstance(value, str) else bytes(value)
    except (TypeError, ValueError):
        data = b""
    require(len(data) == 32, "Merkle tree nodes must be Uint8Array of length 32")
    return data


def to_hex(node: bytes) -> str:
    """`0x` lower-case hex of a node."""
    return "0x" + node.hex()


def sibling_index(i: int) -> int:
    """The other child of `i`'s parent (`i` > 0)."""
    return i + 1 if i % 2 else i - 1


def make_tree(leaves: Sequence[bytes], progress: Progress | None = None) -> list[bytes]:
    """OpenZeppelin's `makeMerkleTree`, hashing each depth of the tree as one batch.

    The nodes are laid out in one buffer; nodes of one depth only depend on deeper nodes, so
    depths are hashed deepest first, each in one batch.

    Args:
        leaves: The 32-byte leaf hashes, in leaf order.
        progress: Called with the number of nodes hashed after each depth.

    Returns:
        The 2n-1 nodes as 32-byte strings.

    Raises:
        MerkleTreeError: No leaves, or a leaf that is not 32 bytes.
    """
    require(len(leaves) != 0, "Expected non-zero number of leaves")
    require(set(map(len, leaves)) == {32}, "Merkle tree nodes must be 32 bytes")
    last = len(leaves) - 2  # the last internal node
    tree = bytearray(32 * (last + 1)) + b"".join(reversed(leaves))
    for depth in range((last + 1).bit_length() - 1, -1, -1):
        lo, hi = (1 << depth) - 1, min((1 << (depth + 1)) - 2, last)
        hash_level(tree, lo, hi)
        if progress is not None:
            progress(hi + 1 - lo)
    return split_digests(tree)


def standard_layout(
    leaf_hashes: Sequence[bytes], sort_leaves: bool = True, progress: Progress | None = None
) -> tuple[list[bytes], list[int]]:
    """The tree of `StandardMerkleTree.of` over leaf hashes, and where each leaf went.

    Leaves are sorted by hash unless `sort_leaves` is False; the sort is stable, so equal leaves
    keep their order, as in JavaScript. The C library does all of it in one call when built.

    Args:
        leaf_hashes: The 32-byte leaf hashes, in value order.
        sort_leaves: Sort the leaves by hash (OpenZeppelin's default).
        progress: Called with the number of internal nodes hashed.

    Returns:
        The 2n-1 nodes, and the node index of each leaf in value order.

    Raises:
        MerkleTreeError: No leaves, or a leaf that is not 32 bytes.
    """
    require(len(leaf_hashes) != 0, "Expected non-zero number of leaves")
    require(set(map(len, leaf_hashes)) == {32}, "Merkle tree nodes must be 32 bytes")
    if keccak_native.available():
        nodes, tree_indices = keccak_native.standard_tree(b"".join(leaf_hashes), sort_leaves)
        if progress is not None:
            progress(len(leaf_hashes) - 1)
        return split_digests(nodes), tree_indices
    order: Sequence[int] = range(len(leaf_hashes))
    if sort_leaves:
        order = sorted(order, key=leaf_hashes.__getitem__)
    tree = make_tree(list(map(leaf_hashes.__getitem__, order)), progress)
    last = len(tree) - 1
    tree_indices = [0] * len(leaf_hashes)
    for leaf, value in enumerate(order):
        tree_indices[value] = last - leaf
    return tree, tree_indices


def is_valid_tree(tree: Sequence[bytes]) -> bool:
    """Whether every internal node is the hash of its two children (`isValidMerkleTree`)."""
    # A node with a left child but no right one only happens with an even length.
    if len(tree) % 2 == 0 or set(map(len, tree)) != {32}:
        return False
    given = b"".join(tree)
    recomputed = bytearray(given)
    if len(tree) > 1:
        hash_level(recomputed, 0, (len(tree) - 3) // 2)
    return recomputed == given


def is_leaf(tree: Sequence[bytes], i: int) -> bool:
    """Whether `i` is a node of `tree` without children."""
    return 0 <= i < len(tree) and 2 * i + 1 >= len(tree)


def get_proof(tree: Sequence[bytes], i: int) -> list[str]:
    """The sibling hashes from leaf `i` up to the root (OpenZeppelin's `getProof`)."""
    require(is_leaf(tree, i), "Index is not a leaf")
    proof = []
    while i > 0:
        proof.append(to_hex(tree[sibling_index(i)]))
        i = (i - 1) // 2
    return proof


def process_proof(leaf: bytes | str, proof: Sequence[bytes | str]) -> str:
    """The root that `proof` leads to from the leaf hash `leaf` (OpenZeppelin's `processProof`)."""
    node = to_node(leaf)
    for sibling in [to_node(p) for p in proof]:
        node = node_hash(node, sibling)
    return to_hex(node)


def get_multi_proof(tree: Sequence[bytes], indices: Sequence[int]) -> dict[str, list[Any]]:
    """A multiproof of the leaves at `indices` (OpenZeppelin's `getMultiProof`).

    Returns:
        `{"leaves": [leaf hashes], "proof": [...], "proofFlags": [...]}`, leaves in descending
        tree order.
    """
    for i in indices:
        require(is_leaf(tree, i), "Index is not a leaf")
    ordered = sorted(indices, reverse=True)
    require(len(set(ordered)) == len(ordered), "Cannot prove duplicated index")
    stack: deque[int] = deque(ordered)
    proof: list[str] = []
    flags: list[bool] = []
    while stack and stack[0] > 0:
        j = stack.popleft()
        sibling = sibling_index(j)
        if stack and stack[0] == sibling:
            flags.append(True)
            stack.popleft()
        else:
            flags.append(False)
            proof.append(to_hex(tree[sibling]))
        stack.append((j - 1) // 2)
    if not ordered:
        proof.append(to_hex(tree[0]))
    return {"leaves": [to_hex(tree[i]) for i in ordered], "proof": proof, "proofFlags": flags}


def process_multi_proof(multiproof: Mapping[str, Sequence[Any]]) -> str:
    """The root of a multiproof over leaf hashes (OpenZeppelin's `processMultiProof`)."""
    leaves = [to_node(leaf) for leaf in multiproof["leaves"]]
    proof = deque(to_node(p) for p in multiproof["proof"])
    flags = list(multiproof["proofFlags"])
    require(len(proof) >= flags.count(False), "Invalid multiproof format")
    require(
        len(leaves) + len(proof) == len(flags) + 1,
        "Provided leaves and multiproof are not compatible",
    )
    stack = deque(leaves)
    for flag in flags:
        a = stack.popleft()
        b = stack.popleft() if flag else proof.popleft()
        stack.append(node_hash(a, b))
    return to_hex(stack.pop() if stack else proof.popleft())


def render(tree: Sequence[bytes]) -> str:
    """The tree drawn as text (OpenZeppelin's `renderMerkleTree`)."""
    require(len(tree) != 0, "Expected non-zero number of nodes")
    lines: list[str] = []
    stack: list[tuple[int, list[int]]] = [(0, [])]
    while stack:
        i, path = stack.pop()
        prefix = "".join(["   ", "│  "][p] for p in path[:-1])
        branch = "".join(["└─ ", "├─ "][p] for p in path[-1:])
        lines.append(f"{prefix}{branch}{i}) {to_hex(tree[i])}")
        if 2 * i + 2 < len(tree):
            stack.append((2 * i + 2, [*path, 0]))
            stack.append((2 * i + 1, [*path, 1]))
    return "\n".join(lines)
