"""`StandardMerkleTree`: byte-compatible with OpenZeppelin's `@openzeppelin/merkle-tree` 1.0.8.

Leaf = `keccak256(keccak256(abi.encode(leaf_encoding, value)))`; a node hashes its two children in
ascending order; the tree is a flat array of 2n-1 nodes with the root at 0; leaves are sorted by
hash unless `sort_leaves=False`. Methods mirror OpenZeppelin's in snake case; hashes and proofs
are `0x` lower-case hex.

Dumps (`standard-v1`) are the ones OpenZeppelin writes: values as given, except that Python
integers are written as decimal strings and `bytes` as `0x` hex. A loaded dump is re-emitted with
`0x` lower-case hex nodes, where OpenZeppelin keeps node strings as it read them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from wallet.merkle_abi import (
    EVM_CLAIM_ENCODING,
    SOLANA_CLAIM_ENCODING,
    evm_claim_leaf,
    solana_claim_leaf,
    standard_leaf_hash,
    standard_leaf_hashes,
)
from wallet.merkle_core import (
    MerkleTreeError,
    get_multi_proof,
    get_proof,
    is_valid_tree,
    process_multi_proof,
    process_proof,
    render,
    require,
    standard_layout,
    to_hex,
    to_node,
)
from wallet.merkle_hash import Progress

__all__ = [
    "EVM_CLAIM_ENCODING",
    "SOLANA_CLAIM_ENCODING",
    "MerkleTreeError",
    "StandardMerkleTree",
    "evm_claim_leaf",
    "solana_claim_leaf",
    "standard_leaf_hash",
    "to_json",
    "verify",
    "verify_multi_proof",
]

Value = Sequence[Any]
Leaf = int | Value
MultiProof = Mapping[str, Sequence[Any]]


def verify(
    root: bytes | str, leaf_encoding: Sequence[str], value: Value, proof: Sequence[bytes | str]
) -> bool:
    """Whether `proof` proves `value` under `root` (OpenZeppelin's static `verify`).

    Args:
        root: The tree root, bytes or hex.
        leaf_encoding: The Solidity types of a value.
        value: The leaf value.
        proof: The sibling hashes, bytes or hex.

    Returns:
        True when the proof leads to `root`.

    Raises:
        MerkleTreeError: A root or proof node that is not 32 bytes.
    """
    return process_proof(standard_leaf_hash(leaf_encoding, value), proof) == to_hex(to_node(root))


def verify_multi_proof(
    root: bytes | str, leaf_encoding: Sequence[str], multiproof: MultiProof
) -> bool:
    """Whether a multiproof (with leaf values) holds under `root` (OpenZeppelin's static form)."""
    leaves = [standard_leaf_hash(leaf_encoding, leaf) for leaf in multiproof["leaves"]]
    return process_multi_proof({**multiproof, "leaves": leaves}) == to_hex(to_node(root))


def _check_values(values: Sequence[Value]) -> None:
    scalar = (int, float, str, bytes)
    kinds = set(map(type, values))
    require(not any(issubclass(kind, scalar) for kind in kinds), "Leaf values cannot be numbers")


def to_json(value: Value) -> list[Any]:
    """A leaf value as a dump stores it: integers as decimal strings, bytes as `0x` hex."""
    out: list[Any] = []
    for item in value:
        if isinstance(item, int) and not isinstance(item, bool):
            out.append(str(item))
        elif isinstance(item, bytes | bytearray):
            out.append("0x" + bytes(item).hex())
        else:
            out.append(item)
    return out


class _Dual:
    """A method that is static on the class and bound on instances, like OpenZeppelin's `verify`."""

    def __init__(self, static: Callable[..., Any], bound: Callable[..., Any]) -> None:
        self._static, self._bound = static, bound

    def __get__(self, obj: object, owner: type | None = None) -> Callable[..., Any]:
        if obj is None:
            return self._static
        return self._bound.__get__(obj, owner)


class StandardMerkleTree:
    """A Merkle tree of ABI-encoded values, compatible with OpenZeppelin's `StandardMerkleTree`.

    Build one with `of` (values) or `load` (a `standard-v1` dump). A leaf argument is either a
    value index (`int`) or the value itself.
    """

    def __init__(
        self,
        tree: list[bytes],
        values: Sequence[Value],
        tree_indices: Sequence[int],
        leaf_encoding: Sequence[str],
    ) -> None:
        self._tree = tree
        self._values = values
        self._tree_indices = tree_indices
        self.leaf_encoding: tuple[str, ...] = tuple(leaf_encoding)
        self._lookup: dict[bytes, int] | None = None

    @classmethod
    def of(
        cls, values: Sequence[Value], leaf_encoding: Sequence[str], *, sort_leaves: bool = True
    ) -> StandardMerkleTree:
        """Builds the tree of `values`, each encoded with the Solidity types `leaf_encoding`.

        Args:
            values: The leaf values, e.g. `[["0x1111…", "5000"], …]`; kept as given.
            leaf_encoding: The Solidity types of one value, e.g. `["address", "uint256"]`.
            sort_leaves: Sort leaves by hash (OpenZeppelin's default, needed for multiproofs).

        Returns:
            The tree.

        Raises:
            MerkleTreeError: No values, or a value that is a number.
            ValueError: A value that does not match the encoding.
        """
        _check_values(values)
        hashes = standard_leaf_hashes(leaf_encoding, values)
        return cls.of_hashed(values, leaf_encoding, hashes, sort_leaves=sort_leaves)

    @classmethod
    def of_hashed(
        cls,
        values: Sequence[Value],
        leaf_encoding: Sequence[str],
        leaf_hashes: Sequence[bytes],
        *,
        sort_leaves: bool = True,
        progress: Progress | None = None,
    ) -> StandardMerkleTree:
        """Like `of`, for callers that already computed the standard leaf hashes of `values`.

        `validate()` recomputes the hashes; the CSV builder uses this to hash each row once.
        """
        require(len(values) == len(leaf_hashes), "Expected one leaf hash per value")
        require(len(values) != 0, "Expected non-zero number of leaves")
        tree, tree_indices = standard_layout(leaf_hashes, sort_leaves, progress)
        return cls(tree, values, tree_indices, leaf_encoding)

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> StandardMerkleTree:
        """Loads and validates a `standard-v1` dump (the dict that `dump` returns).

        Raises:
            MerkleTreeError: Unknown format, missing encoding, or a tree that does not hold.
        """
        require(data.get("format") == "standard-v1", f"Unknown format '{data.get('format')}'")
        require(data.get("leafEncoding") is not None, "Expected leaf encoding")
        raw_tree = list(data["tree"])
        values = [entry["value"] for entry in data["values"]]
        _check_values(values)
        indices = [entry["treeIndex"] for entry in data["values"]]
        tree = cls([to_node(node) for node in raw_tree], values, indices, data["leafEncoding"])
        tree.validate()
        # OpenZeppelin compares the leaf strings themselves with the hex of the leaf hash.
        require(
            all(raw_tree[i] == to_hex(tree._tree[i]) for i in indices),
            "Merkle tree does not contain the expected value",
        )
        return tree

    @property
    def root(self) -> str:
        """The root, `0x` hex."""
        return to_hex(self._tree[0])

    @property
    def values(self) -> Sequence[Value]:
        """The leaf values, in value order, as given (read only)."""
        return self._values

    @property
    def nodes(self) -> Sequence[bytes]:
        """All 2n-1 nodes as 32-byte strings, root first (read only)."""
        return self._tree

    @property
    def tree_indices(self) -> Sequence[int]:
        """For each value index, the position of its leaf in `nodes` (read only)."""
        return self._tree_indices

    def __len__(self) -> int:
        return len(self._values)

    def at(self, index: int) -> Value | None:
        """The value at `index`, or None (OpenZeppelin's `at`)."""
        return self._values[index] if 0 <= index < len(self._values) else None

    def entries(self) -> Iterator[tuple[int, Value]]:
        """Yields `(index, value)` in value order."""
        yield from enumerate(self._values)

    def leaf_hash(self, value: Value) -> str:
        """The standard leaf hash of `value` under this tree's encoding, `0x` hex."""
        return to_hex(standard_leaf_hash(self.leaf_encoding, value))

    def _lookup_table(self) -> dict[bytes, int]:
        # Leaf hash -> value index; with duplicated values the last one wins, as in OpenZeppelin.
        if self._lookup is None:
            self._lookup = {self._tree[t]: i for i, t in enumerate(self._tree_indices)}
        return self._lookup

    def leaf_lookup(self, value: Value) -> int:
        """The index of `value`; raises `MerkleTreeError` when it is not in the tree."""
        index = self._lookup_table().get(standard_leaf_hash(self.leaf_encoding, value))
        if index is None:
            raise MerkleTreeError("Leaf is not in tree")
        return index

    def _validate_value_at(self, leaf: Leaf) -> int:
        index = leaf if isinstance(leaf, int) else self.leaf_lookup(leaf)
        require(0 <= index < len(self._values), "Index out of bounds")
        tree_index = self._tree_indices[index]
        require(
            0 <= tree_index < len(self._tree)
            and self._tree[tree_index]
            == standard_leaf_hash(self.leaf_encoding, self._values[index]),
            "Merkle tree does not contain the expected value",
        )
        return tree_index

    def get_proof(self, leaf: Leaf) -> list[str]:
        """The sibling hashes from `leaf` up to the root, `0x` hex.

        Raises:
            MerkleTreeError: Unknown value, index out of bounds, or an inconsistent tree.
        """
        tree_index = self._validate_value_at(leaf)
        proof = get_proof(self._tree, tree_index)
        require(process_proof(self._tree[tree_index], proof) == self.root, "Unable to prove value")
        return proof

    def get_multi_proof(self, leaves: Sequence[Leaf]) -> dict[str, list[Any]]:
        """A multiproof of several leaves: `{"leaves": values, "proof": [..], "proofFlags": [..]}`.

        Raises:
            MerkleTreeError: Unknown or duplicated leaves, or an inconsistent tree.
        """
        indices = [self._validate_value_at(leaf) for leaf in leaves]
        multiproof = get_multi_proof(self._tree, indices)
        require(process_multi_proof(multiproof) == self.root, "Unable to prove values")
        lookup = self._lookup_table()
        values = [self._values[lookup[to_node(leaf)]] for leaf in multiproof["leaves"]]
        return {**multiproof, "leaves": values}

    def _leaf_node(self, leaf: Leaf) -> bytes:
        if isinstance(leaf, int):
            require(0 <= leaf < len(self._values), "Index out of bounds")
            leaf = self._values[leaf]
        return standard_leaf_hash(self.leaf_encoding, leaf)

    def _verify(self, leaf: Leaf, proof: Sequence[bytes | str]) -> bool:
        return process_proof(self._leaf_node(leaf), proof) == self.root

    def _verify_multi(self, multiproof: MultiProof) -> bool:
        leaves = [self._leaf_node(leaf) for leaf in multiproof["leaves"]]
        return process_multi_proof({**multiproof, "leaves": leaves}) == self.root

    verify = _Dual(verify, _verify)
    """`tree.verify(leaf, proof)`, or `StandardMerkleTree.verify(root, encoding, value, proof)`."""
    verify_multi_proof = _Dual(verify_multi_proof, _verify_multi)
    """`tree.verify_multi_proof(mp)`, or `StandardMerkleTree.verify_multi_proof(root, enc, mp)`."""

    def validate(self) -> None:
        """Checks every value against its leaf and every node against its children.

        Raises:
            MerkleTreeError: The tree does not hold.
        """
        hashes = standard_leaf_hashes(self.leaf_encoding, self._values)
        size = len(self._tree)
        for index, leaf in zip(self._tree_indices, hashes, strict=True):
            require(
                isinstance(index, int) and 0 <= index < size and self._tree[index] == leaf,
                "Merkle tree does not contain the expected value",
            )
        require(is_valid_tree(self._tree), "Merkle tree is invalid")

    def dump(self) -> dict[str, Any]:
        """The `standard-v1` dump, as OpenZeppelin's `dump()` returns it."""
        return {
            "format": "standard-v1",
            "leafEncoding": list(self.leaf_encoding),
            "tree": [to_hex(node) for node in self._tree],
            "values": [
                {"value": to_json(v), "treeIndex": t}
                for v, t in zip(self._values, self._tree_indices, strict=True)
            ],
        }

    def render(self) -> str:
        """The tree drawn as text (OpenZeppelin's `render()`)."""
        return render(self._tree)
