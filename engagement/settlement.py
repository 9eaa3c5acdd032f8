"""Settles an epoch: scores in, one allocation out, split into an EVM and a Solana claim tree.

A pure function of plain data, so anyone holding the published ledger export, the rules and
the wallet maps recomputes the same roots:

1. `allocate` splits the pool over every eligible member, whether or not they linked a wallet.
2. Each member is paid on one chain: the EVM wallet when they linked both (`prefer` changes
   that), else the one they have. Members without a wallet are listed in `unlinked`; their
   share is held back (it stays in the treasury), not shared among the others, so linking a
   wallet late never changes anyone else's amount.
3. Per chain, rows are sorted by member id and indexed from 0: the canonical order. Rows of
   amount 0 are left out of the trees (there is nothing to claim).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from io import BytesIO
from itertools import repeat
from typing import Any, BinaryIO, Literal

from engagement.allocation import AllocationError, Transform, allocate
from wallet.account_lookup import account_lookup
from wallet.merkle import StandardMerkleTree
from wallet.merkle_claims import quoted_nodes, write_claims, write_dump
from wallet.merkle_csv import Allocations, CsvError, allocations_from_amounts, build_tree

Chain = Literal["evm", "solana"]
CHAINS: tuple[Chain, ...] = ("evm", "solana")


class SettlementError(ValueError):
    """The epoch cannot be settled as asked (no eligible member, a pool too small, a bad wallet)."""


@dataclass(frozen=True)
class AllocationParams:
    """The published allocation parameters of an epoch.

    Attributes:
        pool: Base units to split.
        min_score: The least score that takes part.
        cap_share: Largest share per member as a decimal string (e.g. `"0.05"`), or None.
        transform: `linear` or `sqrt`.
    """

    pool: int
    min_score: int = 0
    cap_share: str | None = None
    transform: Transform = "linear"

    def to_json(self) -> dict[str, Any]:
        """The parameters as JSON-ready data; the pool as a decimal string (it may pass 2**53)."""
        return {
            "pool": str(self.pool),
            "min_score": self.min_score,
            "cap_share": self.cap_share,
            "transform": self.transform,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AllocationParams:
        """The inverse of `to_json`."""
        return cls(
            pool=int(data["pool"]),
            min_score=int(data.get("min_score", 0)),
            cap_share=data.get("cap_share"),
            transform=data.get("transform", "linear"),
        )


@dataclass(frozen=True)
class Row:
    """One claim: `member_id` may claim `amount` to `account` with leaf `index` of `chain`;
    its leaf is node `tree_index` of the tree (see `proof_from_nodes`)."""

    member_id: int
    chain: Chain
    index: int
    account: str
    amount: int
    tree_index: int


@dataclass(frozen=True)
class ChainTree:
    """One chain's tree and its claim rows, in columns.

    The published files are derived on demand (`write_dump`, `write_claims`, or the `dump`
    and `claims` bytes), so a preview or a verification of a million claims never builds the
    1 GB claims file; `close` streams them to disk once.
    """

    chain: Chain
    tree: StandardMerkleTree
    allocations: Allocations
    members: list[int]

    @property
    def root(self) -> str:
        """The tree's root, `0x` hex."""
        return self.tree.root

    def __len__(self) -> int:
        return len(self.members)

    @cached_property
    def rows(self) -> list[Row]:
        """The claims as `Row`s, in index order."""
        keys, where = self.allocations.claim_keys(), self.tree.tree_indices
        amounts = self.allocations.amounts
        return [
            Row(member, self.chain, i, keys[i], amounts[i], where[i])
            for i, member in enumerate(self.members)
        ]

    def records(self, settlement_id: int) -> Iterator[tuple[Any, ...]]:
        """`(settlement_id, chain, index, member_id, account, amount, tree_index)` per claim:
        tuples made by `zip` as a bulk insert consumes them, without a `Row` per claim."""
        return zip(
            repeat(settlement_id, len(self.members)),
            repeat(self.chain),
            self.allocations.indexes,
            self.members,
            self.allocations.claim_keys(),
            map(str, self.allocations.amounts),
            self.tree.tree_indices,
            strict=False,  # `repeat` is endless: the first column bounds the rows
        )

    @cached_property
    def nodes(self) -> bytes:
        """The 2n-1 nodes as 32-byte strings, root first, from which any proof is read."""
        return b"".join(self.tree.nodes)

    @cached_property
    def accounts(self) -> bytes:
        """The account lookup (`account_lookup`) of the claims, for proofs by address."""
        return account_lookup(self.allocations.account_bytes)

    @cached_property
    def _quoted(self) -> bytes:
        return quoted_nodes(self.tree.nodes)

    def write_dump(self, out: BinaryIO) -> None:
        """Streams the OpenZeppelin `standard-v1` dump (compact UTF-8 JSON) to `out`."""
        write_dump(self.tree, out, quoted=self._quoted)

    def write_claims(self, out: BinaryIO) -> None:
        """Streams the Uniswap-shaped claims file (compact UTF-8 JSON) to `out`."""
        write_claims(self.tree, self.allocations, out, quoted=self._quoted)

    @property
    def dump(self) -> bytes:
        """The dump's bytes (`write_dump` in memory)."""
        out = BytesIO()
        self.write_dump(out)
        return out.getvalue()

    @property
    def claims(self) -> bytes:
        """The claims file's bytes (`write_claims` in memory)."""
        out = BytesIO()
        self.write_claims(out)
        return out.getvalue()


@dataclass(frozen=True)
class Settlement:
    """The whole settlement of an epoch.

    Attributes:
        amounts: Every eligible member's amount, linked or not.
        trees: The tree of each chain that has at least one non-zero claim.
        unlinked: Members with an amount but no wallet: held back, reported.
        ledger_digest: `sha256:` hex of the canonical ledger export.
    """

    params: AllocationParams
    amounts: dict[int, int]
    trees: dict[Chain, ChainTree]
    unlinked: dict[int, int] = field(default_factory=dict)
    ledger_digest: str = ""

    def root(self, chain: Chain) -> str | None:
        """The root of `chain`'s tree, or None when nobody is paid there."""
        tree = self.trees.get(chain)
        return tree.root if tree else None


def canonical_ledger(rows: Iterable[Mapping[str, Any]]) -> bytes:
    """The canonical export: one JSON object per line, keys sorted, compact, `\\n` after each."""
    return b"".join(
        json.dumps(dict(row), sort_keys=True, separators=(",", ":"), default=str).encode() + b"\n"
        for row in rows
    )


def ledger_digest(export: bytes) -> str:
    """`sha256:` and the hex digest of a canonical export's bytes."""
    return "sha256:" + hashlib.sha256(export).hexdigest()


def _allocate(
    scores: Mapping[int, int], params: AllocationParams, excluded: Iterable[int]
) -> dict[int, int]:
    skip = set(excluded)
    floor = max(params.min_score, 1)
    eligible = sum(1 for m, s in scores.items() if s >= floor and m not in skip)
    if eligible == 0:
        raise SettlementError(
            "no eligible member: every score is zero, excluded or below min_score"
        )
    if params.pool < eligible:
        raise SettlementError(
            f"pool {params.pool} is smaller than the {eligible} members with a positive score: "
            "raise the pool (it is in base units) or min_score"
        )
    ordered = {m: scores[m] for m in sorted(scores)}
    try:
        return allocate(
            ordered,
            params.pool,
            min_score=params.min_score,
            cap_share=params.cap_share,
            transform=params.transform,
            excluded=skip,
        )
    except AllocationError as exc:
        raise SettlementError(str(exc)) from exc


def _tree(chain: Chain, paid: list[tuple[int, str, int]]) -> ChainTree:
    try:
        rows = allocations_from_amounts([(a, m) for _, a, m in paid], chain=chain)
    except CsvError as exc:
        member = paid[exc.line - 1][0] if exc.line else None
        raise SettlementError(f"{chain} wallet of member {member}: {exc}") from exc
    return ChainTree(chain, build_tree(rows), rows, [member for member, _, _ in paid])


def proof_from_nodes(nodes: bytes, tree_index: int) -> list[str]:
    """The OpenZeppelin proof of the leaf at `tree_index`, read from concatenated nodes.

    Args:
        nodes: `ChainTree.nodes`: 32 bytes per node, root first.
        tree_index: The leaf's node position (`Row.tree_index`).

    Returns:
        The sibling hashes from the leaf up to the root, `0x` hex.
    """
    proof, node = [], tree_index
    while node > 0:
        sibling = node + 1 if node & 1 else node - 1
        proof.append("0x" + nodes[32 * sibling : 32 * sibling + 32].hex())
        node = (node - 1) // 2
    return proof


def settle(
    scores: Mapping[int, int],
    params: AllocationParams,
    *,
    evm_wallets: Mapping[int, str],
    solana_wallets: Mapping[int, str],
    excluded: Iterable[int] = (),
    prefer: Chain = "evm",
    export: bytes = b"",
) -> Settlement:
    """Computes the allocation of an epoch and its claim trees, deterministically.

    Args:
        scores: Member id -> points in the epoch.
        params: The published allocation parameters.
        evm_wallets: Member id -> `0x` address of their primary EVM wallet.
        solana_wallets: Member id -> base58 owner of their primary Solana wallet.
        excluded: Members that get nothing.
        prefer: The chain that pays a member who linked both.
        export: The canonical ledger export (`canonical_ledger`), digested into the result.

    Returns:
        The settlement; same input, same roots and bytes.

    Raises:
        SettlementError: No eligible member, a pool smaller than the eligible members, or a
            malformed or duplicated wallet.
    """
    amounts = _allocate(scores, params, excluded)
    paid: dict[Chain, list[tuple[int, str, int]]] = {"evm": [], "solana": []}
    unlinked: dict[int, int] = {}
    wallets: dict[Chain, Mapping[int, str]] = {"evm": evm_wallets, "solana": solana_wallets}
    other: Chain = "solana" if prefer == "evm" else "evm"
    for member in sorted(amounts):
        amount = amounts[member]
        chain = prefer if member in wallets[prefer] else other
        if member not in wallets[chain]:
            unlinked[member] = amount
        elif amount:
            paid[chain].append((member, wallets[chain][member], amount))
    trees = {chain: _tree(chain, rows) for chain, rows in paid.items() if rows}
    return Settlement(params, amounts, trees, unlinked, ledger_digest(export))


def rules_document(
    params: AllocationParams,
    *,
    rules: list[dict[str, Any]],
    excluded: Iterable[int],
    evm_wallets: Mapping[int, str],
    solana_wallets: Mapping[int, str],
    prefer: Chain = "evm",
) -> dict[str, Any]:
    """The published `rules.json`: everything besides the ledger that the settlement used."""
    return {
        "allocation": params.to_json(),
        "prefer": prefer,
        "excluded": sorted(set(excluded)),
        "wallets": {
            "evm": {str(m): evm_wallets[m] for m in sorted(evm_wallets)},
            "solana": {str(m): solana_wallets[m] for m in sorted(solana_wallets)},
        },
        "scoring": rules,
    }


def scores_of(export: bytes) -> dict[int, int]:
    """Each member's points, summed over the rows of a canonical ledger export."""
    scores: dict[int, int] = {}
    for line in export.splitlines():
        row = json.loads(line)
        member = int(row["member_id"])
        scores[member] = scores.get(member, 0) + int(row["points"])
    return scores


def recompute(export: bytes, rules: Mapping[str, Any]) -> Settlement:
    """The settlement that a published ledger export and `rules.json` imply; anyone can run it.

    Args:
        export: The published `ledger.jsonl` bytes.
        rules: The published `rules.json` document (`rules_document`).

    Returns:
        The settlement; compare its roots and digest with the published ones.

    Raises:
        SettlementError: The documents do not settle (see `settle`).
    """
    wallets = rules["wallets"]
    return settle(
        scores_of(export),
        AllocationParams.from_json(rules["allocation"]),
        evm_wallets={int(m): a for m, a in wallets["evm"].items()},
        solana_wallets={int(m): a for m, a in wallets["solana"].items()},
        excluded=[int(m) for m in rules["excluded"]],
        prefer=rules.get("prefer", "evm"),
        export=export,
    )
