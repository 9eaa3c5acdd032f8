"""Batch Keccak-256 in our own C library (`wallet/native/keccak.c`), loaded with ctypes.

Every function here takes a whole batch in one call: the messages of a batch share one length,
so they sit end to end in one buffer and the library runs several through Keccak-f[1600] side by
side. `make deps` compiles the library; without it (no compiler) `available()` is False and the
callers in `wallet.merkle_hash` keep to pycryptodome, with identical results.
"""

from __future__ import annotations

import ctypes
import functools
from array import array
from pathlib import Path

LIBRARY = Path(__file__).resolve().parent / "native" / "libkeccak.so"
_EMPTY_DIGEST = bytes.fromhex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
_SIZE = ctypes.c_size_t


class _Library:
    """The loaded library's entry points, typed.

    Batches go through a handle that releases the GIL (they take milliseconds); single hashes
    through one that keeps it, as giving the GIL up and taking it back costs more than a hash.
    """

    def __init__(self, path: Path) -> None:
        released, kept = ctypes.CDLL(str(path)), ctypes.PyDLL(str(path))
        for handle in (released, kept):
            for name in ("ts_keccak256_batch", "ts_keccak256_leaves"):
                getattr(handle, name).argtypes = [ctypes.c_char_p, _SIZE, _SIZE, ctypes.c_void_p]
        released.ts_merkle_level.argtypes = [ctypes.c_void_p, _SIZE, _SIZE]
        released.ts_claim_leaves.argtypes = [
            ctypes.c_char_p,
            ctypes.c_char_p,
            _SIZE,
            ctypes.c_char_p,
            _SIZE,
            ctypes.c_void_p,
        ]
        released.ts_standard_tree.argtypes = [
            ctypes.c_char_p,
            _SIZE,
            ctypes.c_int,
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        released.ts_eip55.argtypes = [ctypes.c_char_p, _SIZE, ctypes.c_void_p]
        released.ts_keccak_width.argtypes = [ctypes.c_int]
        self.batch = released.ts_keccak256_batch
        self.leaves = released.ts_keccak256_leaves
        self.single = kept.ts_keccak256_batch
        self.claims = released.ts_claim_leaves
        self.level = released.ts_merkle_level
        self.tree = released.ts_standard_tree
        self.eip55 = released.ts_eip55
        self.width = released.ts_keccak_width


@functools.cache
def _library() -> _Library | None:
    if not LIBRARY.exists():
        return None
    try:
        library = _Library(LIBRARY)
        library.width(0)
        out = ctypes.create_string_buffer(32)
        library.batch(b"", 1, 0, out)
    except (OSError, AttributeError):  # unloadable, or built from another version of the source
        return None
    return library if out.raw == _EMPTY_DIGEST else None


def available() -> bool:
    """Whether the library is built and loads."""
    return _library() is not None


def _lib() -> _Library:
    library = _library()
    if library is None:
        raise RuntimeError(f"{LIBRARY} is not built (run `make deps`)")
    return library


def set_width(width: int) -> int:
    """Hashes `width` messages side by side (1, 4 or 8; 0 for the widest this CPU runs).

    Every width gives the same digests; tests use this to run each one.

    Returns:
        The width now in use (the widest available when `width` is not).
    """
    return int(_lib().width(width))


def keccak256(data: bytes) -> bytes:
    """Keccak-256 of one message."""
    out = ctypes.create_string_buffer(32)
    _lib().single(data, 1, len(data), out)
    return out.raw


def keccak256_batch(data: bytes, length: int) -> bytes:
    """Keccak-256 of each `length`-byte message of `data`, digests concatenated.

    Args:
        data: The messages end to end (`len(data)` a multiple of `length`).
        length: The length of every message (at least 1; use `keccak256` for empty ones).

    Returns:
        32 bytes per message.

    Raises:
        ValueError: `length` is not positive or does not divide `len(data)`.
    """
    count = _count(data, length)
    out = ctypes.create_string_buffer(32 * count)
    _lib().batch(data, count, length, out)
    return out.raw


def leaf_hashes(data: bytes, length: int) -> bytes:
    """`keccak256(keccak256(m))` of each `length`-byte message of `data`, concatenated.

    Raises:
        ValueError: `length` is not positive or does not divide `len(data)`.
    """
    count = _count(data, length)
    out = ctypes.create_string_buffer(32 * count)
    _lib().leaves(data, count, length, out)
    return out.raw


def claim_leaves(indexes: bytes, accounts: bytes, amounts: bytes) -> bytes:
    """OpenZeppelin's leaf hash of each claim `(uint256 index, account, uint256 amount)`.

    Args:
        indexes: One 32-byte big-endian word per claim, end to end.
        accounts: One 20-byte address (`address`) or 32-byte owner (`bytes32`) per claim.
        amounts: One 32-byte big-endian word per claim.

    Returns:
        32 bytes per claim: `keccak256(keccak256(abi.encode(index, account, amount)))`.

    Raises:
        ValueError: Columns of different lengths, or accounts of another width.
    """
    count = _count(indexes, 32)
    width = len(accounts) // count if count else 20
    if width not in (20, 32) or len(accounts) != width * count or len(amounts) != 32 * count:
        raise ValueError("expected one index, 20- or 32-byte account and amount per claim")
    out = ctypes.create_string_buffer(32 * count)
    _lib().claims(indexes, accounts, width, amounts, count, out)
    return out.raw


def _count(data: bytes, length: int) -> int:
    if length < 1 or len(data) % length:
        raise ValueError(f"{len(data)} bytes are no whole number of {length}-byte messages")
    return len(data) // length


def merkle_level(tree: bytearray, lo: int, hi: int) -> None:
    """Fills nodes `lo..hi` of a flat tree of 32-byte nodes from their children.

    Node `i` becomes keccak256 of its children `2i+1` and `2i+2` (already filled), smaller
    first: OpenZeppelin's layout and node hash.
    """
    if not 0 <= lo <= hi or 32 * (2 * hi + 3) > len(tree):
        raise ValueError("nodes out of the tree")
    _lib().level((ctypes.c_char * len(tree)).from_buffer(tree), lo, hi)


def standard_tree(leaves: bytes, sort: bool) -> tuple[bytes, list[int]]:
    """OpenZeppelin's `StandardMerkleTree` layout of concatenated 32-byte leaf hashes.

    Args:
        leaves: The leaf hashes in value order, end to end (at least one).
        sort: Sort the leaves by their bytes, stably (OpenZeppelin's default).

    Returns:
        The 2n-1 nodes end to end, root first, and the node index of each leaf in value order.

    Raises:
        ValueError: No leaves.
    """
    count = len(leaves) // 32
    tree = ctypes.create_string_buffer(32 * (2 * count - 1)) if count else None
    tree_indices = array("q", bytes(8 * count))
    work = ctypes.create_string_buffer(32 * count) if count else None
    where = (ctypes.c_int64 * count).from_buffer(tree_indices)
    if tree is None or _lib().tree(leaves, count, int(sort), tree, where, work):
        raise ValueError("expected at least one leaf")
    return tree.raw, tree_indices.tolist()


def eip55(raw: bytes) -> bytes:
    """`0x` and the EIP-55 checksummed hex of each 20-byte address in `raw`, one a line (ASCII)."""
    count = len(raw) // 20
    out = ctypes.create_string_buffer(43 * count)
    _lib().eip55(raw, count, out)
    return out.raw
