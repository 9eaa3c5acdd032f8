"""Streams `standard-v1` dumps and Uniswap-shaped claims files, fast enough for a million rows.

The claims file follows Uniswap's merkle-distributor `parse-balance-map` output:
`{"merkleRoot", "tokenTotal": "0x…", "claims": {account: {"index", "amount": "0x…", "proof"}}}`,
amounts as even-length `0x` hex. Proofs are those of the OpenZeppelin tree, keys are EIP-55
addresses (EVM) or base58 owners (Solana), and claims come in leaf order (sorted by leaf hash).

Both files are built as ASCII bytes from one string holding every node as a fixed-width
`,"0x…"` record, and written by a background thread while the next chunk is formatted.
"""

from __future__ import annotations

import binascii
import json
import queue
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import chain, repeat
from operator import itemgetter
from typing import BinaryIO, TypeVar

from wallet.merkle import StandardMerkleTree, to_json
from wallet.merkle_csv import Allocations, ClaimValues
from wallet.merkle_hash import Progress

T = TypeVar("T")
_CHUNK = 32768  # rows formatted per write
_RECORD = 69  # len(',"0x' + 64 hex digits + '"')


def hex_amount(amount: int) -> str:
    """An amount as Uniswap writes it: `0x` and an even number of lower-case hex digits."""
    return "0x" + amount.to_bytes((amount.bit_length() + 7) // 8 or 1).hex()


def quoted_nodes(nodes: Sequence[bytes]) -> bytes:
    """Every node as `,"0x…"`: node `i` is at `69*i`, its JSON string one byte further."""
    separated = binascii.hexlify(b"".join(nodes), b"-", 32).replace(b"-", b'","0x')
    return b',"0x' + separated + b'"'


@contextmanager
def _background(out: BinaryIO) -> Iterator[queue.Queue[bytes | memoryview | None]]:
    """A queue whose chunks a thread writes to `out`; writes release the GIL."""
    chunks: queue.Queue[bytes | memoryview | None] = queue.Queue(maxsize=4)
    failure: list[BaseException] = []

    def drain() -> None:
        while (chunk := chunks.get()) is not None:
            if not failure:
                try:
                    out.write(chunk)
                except BaseException as exc:  # re-raised in the caller's thread
                    failure.append(exc)

    writer = threading.Thread(target=drain, name="merkle-writer", daemon=True)
    writer.start()
    try:
        yield chunks
    finally:
        chunks.put(None)
        writer.join()
    if failure:
        raise failure[0]


def write_dump(
    tree: StandardMerkleTree,
    out: BinaryIO,
    progress: Progress | None = None,
    quoted: bytes | None = None,
) -> None:
    """Writes `tree.dump()` as compact JSON (UTF-8) without building the dict.

    Args:
        tree: The tree.
        out: A binary stream.
        progress: Called with the number of values written, per chunk.
        quoted: `quoted_nodes(tree.nodes)`, when the caller already has it.
    """
    nodes = quoted if quoted is not None else quoted_nodes(tree.nodes)
    encoding = json.dumps(list(tree.leaf_encoding), separators=(",", ":"))
    values, indices = tree.values, tree.tree_indices
    with _background(out) as chunks:
        chunks.put(f'{{"format":"standard-v1","leafEncoding":{encoding},"tree":['.encode())
        chunks.put(memoryview(nodes)[1:])
        chunks.put(b'],"values":[')
        for start in range(0, len(values), _CHUNK):
            stop = start + _CHUNK
            if isinstance(values, ClaimValues):
                # Validated claim rows hold only digits and hex: no JSON escaping is needed.
                indexes, accounts, amounts = (column[start:stop] for column in values.columns)
                rows = zip(indexes, accounts, amounts, indices[start:stop], strict=True)
                items = [f'{{"value":["{i}","{a}","{m}"],"treeIndex":{t}}}' for i, a, m, t in rows]
            else:
                items = [
                    f'{{"value":{json.dumps(to_json(v), separators=(",", ":"))},"treeIndex":{t}}}'
                    for v, t in zip(values[start:stop], indices[start:stop], strict=True)
                ]
            chunks.put((("," if start else "") + ",".join(items)).encode())
            if progress is not None:
                progress(len(items))
        chunks.put(b"]}")


class _ProofColumns:
    """Proofs of runs of leaves as columns of JSON array items, interleaved by one join.

    A leaf's proof is its sibling, then the siblings of its ancestors. The few levels above the
    leaves are columns of `,"0x…"` items shared by runs of neighbours; from the anchor depth
    `cut` up, each anchor's whole proof text is built once and reused by all its leaves.
    """

    def __init__(self, nodes: bytes, count: int) -> None:
        self._nodes = nodes
        # Every leaf is at least as deep as leaf count-1; anchors are four levels above that.
        self.cut = max(0, count.bit_length() - 5)
        self._known = [0] * (self.cut + 1)  # per depth: the node whose text is kept
        self._text = [b""] * (self.cut + 1)

    def _anchor_text(self, node: int) -> bytes:
        depth, path = (node + 1).bit_length() - 1, []
        while self._known[depth] != node:
            path.append(node)
            node, depth = (node - 1) >> 1, depth - 1
        text = self._text[depth]
        for node in reversed(path):
            depth += 1
            at = _RECORD * (node + 1 if node & 1 else node - 1)
            text = self._nodes[at : at + _RECORD] + text
            self._known[depth], self._text[depth] = node, text
        return text

    def columns(self, first: int, last: int) -> list[list[bytes]]:
        """Columns of proof parts for the leaves `first, first-1, …, last`, all of one depth."""
        nodes, leaves = self._nodes, range(first, last - 1, -1)
        rise = (first + 1).bit_length() - 1 - self.cut  # levels from the leaves to the anchors
        if rise + self.cut == 0:
            return []  # a tree of one leaf has an empty proof
        at = [_RECORD * (t + 1 if t & 1 else t - 1) for t in leaves]
        columns = [[nodes[i + 1 : i + _RECORD] for i in at]]
        for up in range(1, rise + 1):
            low, high = ((last + 1) >> up) - 1, ((first + 1) >> up) - 1
            if up < rise:
                spots = [_RECORD * (a + 1 if a & 1 else a - 1) for a in range(low, high + 1)]
                shared = [nodes[i : i + _RECORD] for i in spots]
            else:
                shared = [self._anchor_text(a) for a in range(high, low - 1, -1)][::-1]
            columns.append([shared[((t + 1) >> up) - 1 - low] for t in leaves])
        return columns


def _gather(column: Sequence[T], rows: list[int]) -> list[T]:
    """`[column[i] for i in rows]`, at C speed."""
    return list(itemgetter(*rows)(column)) if len(rows) > 1 else [column[i] for i in rows]


def _claims(heads: list[bytes], first: int, proofs: _ProofColumns) -> bytes:
    """The claims of the leaves from tree index `first` down, one per head."""
    last = first - len(heads) + 1
    # Leaves are on the last two levels; the deeper ones have the larger indices.
    boundary = max(last, (1 << ((first + 1).bit_length() - 1)) - 1)
    parts = []
    for top, bottom, rows in (
        (first, boundary, heads[: first - boundary + 1]),
        (boundary - 1, last, heads[first - boundary + 1 :]),
    ):
        if rows:
            columns = proofs.columns(top, bottom)
            parts.append(b"".join(chain.from_iterable(zip(rows, *columns, repeat(b"]}")))))
    return b"".join(parts)


def write_claims(
    tree: StandardMerkleTree,
    allocations: Allocations,
    out: BinaryIO,
    progress: Progress | None = None,
    quoted: bytes | None = None,
) -> None:
    """Writes the Uniswap-shaped claims file (UTF-8) of `allocations`, whose tree is `tree`.

    Args:
        tree: `build_tree(allocations)`: its value `i` is row `i` of `allocations`.
        allocations: The claim rows.
        out: A binary stream.
        progress: Called with the number of claims written, per chunk.
        quoted: `quoted_nodes(tree.nodes)`, when the caller already has it.

    Raises:
        ValueError: The tree does not have one value per row.
    """
    if len(tree) != len(allocations.indexes):
        raise ValueError("the tree does not match the allocations")
    nodes = quoted if quoted is not None else quoted_nodes(tree.nodes)
    keys, indexes, amounts = allocations.claim_keys(), allocations.indexes, allocations.amounts
    last = len(tree.nodes) - 1
    by_leaf = [0] * len(tree)  # value index of each leaf, in leaf order
    for value, node in enumerate(tree.tree_indices):
        by_leaf[last - node] = value
    proofs = _ProofColumns(nodes, len(by_leaf))
    total = hex_amount(sum(amounts))
    with _background(out) as chunks:
        chunks.put(f'{{"merkleRoot":"{tree.root}","tokenTotal":"{total}","claims":{{'.encode())
        for start in range(0, len(by_leaf), _CHUNK):
            rows = by_leaf[start : start + _CHUNK]
            amounts_hex = [
                m.to_bytes((m.bit_length() + 7) // 8 or 1).hex() for m in _gather(amounts, rows)
            ]
            heads = [
                f',"{k}":{{"index":{i},"amount":"0x{m}","proof":['.encode()
                for k, i, m in zip(
                    _gather(keys, rows), _gather(indexes, rows), amounts_hex, strict=True
                )
            ]
            if start == 0:
                heads[0] = heads[0][1:]
            chunks.put(_claims(heads, last - start, proofs))
            if progress is not None:
                progress(len(rows))
        chunks.put(b"}}")
