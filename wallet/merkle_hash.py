"""Keccak-256 in bulk, OpenZeppelin's node hash, and EIP-55 checksums in bulk.

A Merkle build hashes every leaf twice and every internal node once, so hashing is the hot path.
When our C library is built (`wallet.keccak_native`), each batch is one call into it.

Otherwise hashing goes through pycryptodome's compiled Keccak, whose Python object API costs
several microseconds per hash. For batches of equal-length messages shorter than one Keccak block
(136 bytes), this module then drives the compiled code directly: it lays out one pycryptodome
sponge state per message in a single arena, already holding the padded message, and calls
`keccak_absorb` on each state with a zero block, which runs exactly one Keccak-f[1600]
permutation; the first 32 bytes of each state are then the digest. The state layout is
pycryptodome's private struct, so this arena is only used after it reproduces known answers;
otherwise the ordinary API is. Large batches for the arena are shared with a forked child
process when a second CPU is idle.
"""

from __future__ import annotations

import binascii
import ctypes
import functools
import importlib.util
import os
import struct
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from itertools import chain, islice, repeat
from operator import itemgetter
from typing import Any

from wallet import keccak_native

_RATE = 136  # Keccak-256 absorbs 136-byte blocks
_LANES = 200  # Keccak-f[1600] state size
_STATE_SIZE = 416  # sizeof(keccak_state) in pycryptodome's keccak.c
# Everything after the lanes in pycryptodome's keccak_state: buf[200], valid_bytes, capacity,
# rate, squeezing, rounds, then alignment padding.
_STATE_TAIL = bytes(_LANES) + struct.pack("<IIIBB", 0, _LANES - _RATE, _RATE, 0, 24) + bytes(2)
_DIGEST = struct.Struct(f"32s{_STATE_SIZE - 32}x")  # the digest heads each state
_ADDRESS_HASH = struct.Struct(f"20s{_STATE_SIZE - 20}x")  # the part EIP-55 uses
_CHUNK = 4096  # states per arena: 1.7 MB
_KNOWN_ANSWERS = {
    bytes(range(64)): "002030bde3d4cf89919649775cd71875c4d0ab1708a380e03fefc3a28aa24831",
    bytes(range(100, 135)): "d7f95683683bca26243cd651b5b092674a1e162285d3357c0fad1c8d7e691478",
}
# EIP-55: a letter is upper case when the matching nibble of the hash is 8 or more.
_HIGH_NIBBLE = bytes(0x80 if chr(b) in "89abcdef" else 0 for b in range(256))
_CASE = bytes(
    ord(chr(b - 0x80).upper()) if b >= 0x80 and chr(b - 0x80) in "abcdef" else b % 0x80
    for b in range(256)
)

_first = itemgetter(0)
_NODE = struct.Struct("32s")

# Batches at least this large are shared with a forked child. Below it the copy-on-write faults
# that the fork brings cost this process as much CPU as the half it hands over (measured with
# 50,000 claim rows: no less CPU here, 100 ms more in the child), so smaller builds stay serial.
PARALLEL_MIN = 131072

Progress = Callable[[int], None]


def keccak256(data: bytes) -> bytes:
    """Keccak-256 (the Ethereum hash, not SHA3-256) of one message.

    Args:
        data: The message.

    Returns:
        The 32-byte digest.
    """
    if keccak_native.available():
        return keccak_native.keccak256(bytes(data))
    backend = _backend() if len(data) < _RATE else None
    if backend is not None:
        return backend.hash_fixed([bytes(data)], len(data))[0]
    from Crypto.Hash import keccak

    return keccak.new(data=data, digest_bits=256).digest()


class _ArenaKeccak:
    """Hashes batches of equal-length short messages through pycryptodome's compiled sponge.

    The C function is called through ctypes with ready-made pointer objects: as fast per call
    as cffi here, without the C parser cffi imports (a quarter of a second at start-up).
    """

    def __init__(self, absorb: Any) -> None:
        self._absorb = absorb
        self._zero_block = ctypes.create_string_buffer(_RATE)
        self._zero = ctypes.c_void_p(ctypes.addressof(self._zero_block))
        self._rate = ctypes.c_size_t(_RATE)
        self._separators: dict[int, bytes] = {}
        self._local = threading.local()

    def separator(self, length: int) -> bytes:
        """What follows a `length`-byte message in its state: padding, zero lanes, the tail."""
        if length not in self._separators:
            pad = bytearray(_RATE - length)
            pad[0] |= 0x01
            pad[-1] |= 0x80
            self._separators[length] = bytes(pad) + bytes(_LANES - _RATE) + _STATE_TAIL
        return self._separators[length]

    def _buffers(self) -> tuple[memoryview, list[ctypes.c_void_p]]:
        # One arena per thread, reused by every batch: the state pointers cost as much to make
        # as a hash.
        if not hasattr(self._local, "arena"):
            arena = ctypes.create_string_buffer(_CHUNK * _STATE_SIZE)
            base = ctypes.addressof(arena)
            self._local.arena = arena
            self._local.view = memoryview(arena).cast("B")
            self._local.states = [ctypes.c_void_p(base + i * _STATE_SIZE) for i in range(_CHUNK)]
        return self._local.view, self._local.states

    def permute(self, image: bytes) -> memoryview:
        """Runs prepared states (at most `_CHUNK`) through Keccak-f.

        Returns:
            The states afterwards, a view that the next call overwrites.
        """
        view, states = self._buffers()
        view[0 : len(image)] = image
        count = len(image) // _STATE_SIZE
        if any(map(self._absorb, states[:count], repeat(self._zero), repeat(self._rate))):
            raise RuntimeError("pycryptodome keccak_absorb failed")
        return view[0 : len(image)]

    def hash_fixed(self, messages: Sequence[bytes], length: int) -> list[bytes]:
        separator = self.separator(length)
        digests: list[bytes] = []
        for start in range(0, len(messages), _CHUNK):
            states = self.permute(separator.join(messages[start : start + _CHUNK]) + separator)
            digests += [digest for (digest,) in _DIGEST.iter_unpack(states)]
        return digests


@functools.cache
def _backend() -> _ArenaKeccak | None:
    if sys.byteorder != "little":  # the digest is read straight from little-endian lanes
        return None
    try:
        spec = importlib.util.find_spec("Crypto.Hash._keccak")
        if spec is None or spec.origin is None:
            return None
        # PyDLL keeps the GIL: a permutation is shorter than releasing and taking it back, and
        # with other threads running, taking it back can wait a whole switch interval.
        backend = _ArenaKeccak(ctypes.PyDLL(spec.origin).keccak_absorb)
        for message, digest in _KNOWN_ANSWERS.items():
            got = backend.hash_fixed([message] * 3, len(message))
            if any(d.hex() != digest for d in got):
                return None
    except Exception:  # any surprise in the private layout means: use the public API
        return None
    return backend


def fast_path_enabled() -> bool:
    """Whether batches are hashed through the arena (see the module docstring)."""
    return _backend() is not None


def _can_fork() -> bool:
    """Whether a child can work on an idle CPU.

    Only Linux processes with one thread fork (a child of a threaded process may inherit locks
    held by other threads), never from inside a split, and only when the load average leaves a
    CPU free: on a busy machine the child would only take turns with this process.

    Never with the C library: what is left to share is packing the rows, and the fork costs
    about as much as it saves (1,000,000 claim rows: 0.42 s serial; forked, 0.35 s here and
    0.26 s in the child).
    """
    if _split["active"] or sys.platform != "linux" or threading.active_count() != 1:
        return False
    if keccak_native.available():  # checked after the cheap conditions: it may load the library
        return False
    cpus = len(os.sched_getaffinity(0))
    return cpus > 1 and os.getloadavg()[0] < cpus - 0.5


_split = {"active": False}  # set while `in_halves` runs, so that its work does not split again


def in_halves(work: Callable[[int, int], bytes], count: int) -> bytes:
    """`work(0, count)`, computed as `work(0, half) + work(half, count)` with the second half in
    a forked child on another CPU when `_can_fork` allows, sent back through a pipe.

    Args:
        work: Computes the bytes of items `[start, stop)`; pure, apart from this process's memory.
        count: The number of items.

    Returns:
        The bytes of all items.
    """
    half = count // 2
    if count < PARALLEL_MIN or not _can_fork():
        return work(0, count)
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
    except OSError:  # no process to spare: do everything here
        os.close(read_end)
        os.close(write_end)
        return work(0, count)
    _split["active"] = True
    if pid == 0:  # the child: compute, send, and leave without running any cleanup
        status = 1
        try:
            os.close(read_end)
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(work(half, count))
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    try:
        first = work(0, half)
        with os.fdopen(read_end, "rb") as pipe:
            second = pipe.read()
    finally:
        _, status = os.waitpid(pid, 0)
        _split["active"] = False
    if status != 0:
        second = work(half, count)
    return first + second


def hash_fixed(messages: Sequence[bytes], length: int) -> list[bytes]:
    """Keccak-256 of messages that all have `length` bytes (callers guarantee it).

    Without the C library, batches of `PARALLEL_MIN` or more are shared with a forked child when
    `_can_fork` allows.
    """
    if keccak_native.available() and length:
        return split_digests(keccak_native.keccak256_batch(b"".join(messages), length))
    backend = _backend() if length < _RATE else None
    if backend is None:
        from Crypto.Hash import keccak

        return [keccak.new(data=m, digest_bits=256).digest() for m in messages]
    if len(messages) < PARALLEL_MIN:
        return backend.hash_fixed(messages, length)
    digests = in_halves(
        lambda start, stop: b"".join(backend.hash_fixed(messages[start:stop], length)),
        len(messages),
    )
    return [digests[i : i + 32] for i in range(0, len(digests), 32)]


def double_hash_rows(columns: Sequence[Iterable[bytes]], count: int, length: int) -> bytes:
    """`keccak256(keccak256(row))` of `count` rows of `length` bytes, digests concatenated.

    Row `i` is the concatenation of item `i` of each column (callers guarantee `length`). The
    arena images are joined straight from the columns, and the first digests go into the second
    round without a Python object per row.

    Args:
        columns: Iterables of byte strings, each with at least `count` items.
        count: The number of rows.
        length: The length of every row.

    Returns:
        `32 * count` bytes.
    """
    # Columns may be endless (`repeat`): `count` bounds every zip here.
    if keccak_native.available():
        pieces = chain.from_iterable(zip(*columns, strict=False))
        return keccak_native.leaf_hashes(b"".join(islice(pieces, count * len(columns))), length)
    backend = _backend() if length < _RATE else None
    if backend is None:
        width, pieces = len(columns), chain.from_iterable(zip(*columns, strict=False))
        rows = (b"".join(islice(pieces, width)) for _ in range(count))
        return b"".join(keccak256(keccak256(row)) for row in rows)
    first, second = backend.separator(length), backend.separator(32)
    rows_and_separators = chain.from_iterable(zip(*columns, repeat(first), strict=False))
    digests = []
    for start in range(0, count, _CHUNK):
        size = min(count - start, _CHUNK) * (len(columns) + 1)
        states = backend.permute(b"".join(islice(rows_and_separators, size)))
        image = second.join(map(_first, _DIGEST.iter_unpack(states))) + second
        digests.append(b"".join(map(_first, _DIGEST.iter_unpack(backend.permute(image)))))
    return b"".join(digests)


def keccak256_many(messages: Sequence[bytes]) -> list[bytes]:
    """Keccak-256 of each message, in order; fastest when they share one short length.

    Args:
        messages: The messages.

    Returns:
        One 32-byte digest per message.
    """
    if not messages:
        return []
    length = len(messages[0])
    if set(map(len, messages)) == {length}:
        return hash_fixed(messages, length)
    return [keccak256(m) for m in messages]


def node_hash(a: bytes, b: bytes) -> bytes:
    """OpenZeppelin's `standardNodeHash`: keccak256 of the two children in ascending order."""
    return keccak256(a + b if a <= b else b + a)


def hash_pairs(left: Sequence[bytes], right: Sequence[bytes]) -> list[bytes]:
    """`node_hash` of each pair `(left[i], right[i])`."""
    return hash_fixed([a + b if a <= b else b + a for a, b in zip(left, right, strict=True)], 64)


def split_digests(data: bytes | bytearray) -> list[bytes]:
    """Concatenated 32-byte digests or nodes as a list of `bytes`."""
    return list(map(_first, _NODE.iter_unpack(data)))


def hash_level(tree: bytearray, lo: int, hi: int) -> None:
    """Nodes `lo..hi` of a flat tree of 32-byte nodes become `node_hash` of their children.

    Node `i`'s children are nodes `2i+1` and `2i+2`. Every child is read before any node is
    written, so one call over all internal nodes recomputes each from the nodes as they were.
    """
    if keccak_native.available():
        keccak_native.merkle_level(tree, lo, hi)
        return
    children = split_digests(tree[32 * (2 * lo + 1) : 32 * (2 * hi + 3)])
    tree[32 * lo : 32 * (hi + 1)] = b"".join(hash_pairs(children[0::2], children[1::2]))


def checksum_addresses(raw: bytes) -> list[str]:
    """EIP-55 checksummed `0x` addresses of concatenated 20-byte addresses.

    All addresses are handled at once, by the C library when it is built. Otherwise the arena
    states are made by hex-encoding the addresses with a marker between them and replacing the
    markers with the padding; then a flag 0x80 is added (as one big integer, so without carries)
    to each hex digit whose hash nibble is 8 or more, and one translation table turns flagged
    letters to upper case.

    Args:
        raw: `20 * n` bytes.

    Returns:
        The `n` checksummed addresses, with the `0x` prefix.

    Raises:
        ValueError: The length is not a multiple of 20.
    """
    if len(raw) % 20:
        raise ValueError("expected concatenated 20-byte addresses")
    if not raw:
        return []
    if keccak_native.available():
        return keccak_native.eip55(raw).decode("ascii").splitlines()
    backend = _backend()
    if backend is None:
        digits = binascii.hexlify(raw)
        hashes = b"".join(keccak256(digits[i : i + 40])[:20] for i in range(0, len(digits), 40))
    else:
        separator = backend.separator(40)

        def prefixes(first: int, stop: int) -> bytes:
            parts = []
            for start in range(20 * first, 20 * stop, 20 * _CHUNK):
                chunk = raw[start : min(start + 20 * _CHUNK, 20 * stop)]
                image = binascii.hexlify(chunk, b"-", 20).replace(b"-", separator) + separator
                states = backend.permute(image)
                parts.append(b"".join([h for (h,) in _ADDRESS_HASH.iter_unpack(states)]))
            return b"".join(parts)

        hashes = in_halves(prefixes, len(raw) // 20)
    # Dashes between addresses (the same layout for digits and hash nibbles) let one split
    # cut the result; they map to themselves and carry no flag.
    digits = binascii.hexlify(raw, b"-", 20)
    flags = binascii.hexlify(hashes, b"-", 20).translate(_HIGH_NIBBLE)
    flagged = int.from_bytes(digits, "big") + int.from_bytes(flags, "big")
    text = flagged.to_bytes(len(digits), "big").translate(_CASE).decode("ascii")
    return ("0x" + text.replace("-", "-0x")).split("-")
