"""ABI encoding of leaf values and the standard leaf hash, as `@openzeppelin/merkle-tree` does it.

`standard_leaf_hash` is `keccak256(keccak256(abi.encode(types, value)))`. Values are accepted the
way `@metamask/abi-utils` (the encoder OpenZeppelin uses) accepts them: integers as `int`, decimal
or `0x` strings; addresses and fixed bytes as `0x` strings or `bytes` (shorter values are padded,
addresses on the left and `bytesN` on the right); booleans as `bool` or `"true"`/`"false"`.
Supported types: `uintN`, `intN`, `address`, `bool`, `bytesN`, `bytes` and `string`.

The two claim schemas, `(uint256,address,uint256)` and `(uint256,bytes32,uint256)`, skip the
generic encoder: each leaf preimage is three 32-byte words packed directly.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from itertools import repeat
from typing import Any

from wallet import keccak_native
from wallet.merkle_hash import (
    Progress,
    double_hash_rows,
    in_halves,
    keccak256,
    keccak256_many,
    split_digests,
)

EVM_CLAIM_ENCODING = ("uint256", "address", "uint256")
SOLANA_CLAIM_ENCODING = ("uint256", "bytes32", "uint256")
_ZERO12 = bytes(12)
_LEAF_CHUNK = 65536  # rows packed at once: bounds the memory of preimages
_TYPE = re.compile(r"^(uint|int|bytes)(\d*)$")
_DECIMAL = re.compile(r"^-?[0-9]+$")
_HEX = re.compile(r"^0[xX][0-9a-fA-F]*$")


def parse_int(value: Any) -> int:
    """An integer from an `int`, a decimal string or a `0x` hex string (never a `bool`)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        if _DECIMAL.match(value):
            return int(value)
        if _HEX.match(value) and len(value) > 2:
            return int(value, 16)
    raise ValueError(f"Invalid number. Expected a valid number value, but received {value!r}.")


def parse_bytes(value: Any) -> bytes:
    """Bytes from `bytes` or an even-length `0x` hex string."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str) and _HEX.match(value) and len(value) % 2 == 0:
        return bytes.fromhex(value[2:])
    raise ValueError(f"Expected a 0x hex string or bytes, but received {value!r}.")


def _uint(bits: int) -> Callable[[Any], bytes]:
    def encode(value: Any) -> bytes:
        number = parse_int(value)
        if not 0 <= number < 1 << bits:
            raise ValueError(f'Number "{value}" is out of range for type "uint{bits}".')
        return number.to_bytes(32, "big")

    return encode


def _int(bits: int) -> Callable[[Any], bytes]:
    def encode(value: Any) -> bytes:
        number = parse_int(value)
        if not -(1 << (bits - 1)) <= number < 1 << (bits - 1):
            raise ValueError(f'Number "{value}" is out of range for type "int{bits}".')
        return number.to_bytes(32, "big", signed=True)

    return encode


def _fixed_bytes(size: int) -> Callable[[Any], bytes]:
    def encode(value: Any) -> bytes:
        data = parse_bytes(value)
        if len(data) > size:
            raise ValueError(f"Expected a value of length {size}, but received {len(data)}.")
        return data.ljust(32, b"\0")

    return encode


def _address(value: Any) -> bytes:
    data = parse_bytes(value)
    if len(data) > 20:
        raise ValueError(f"Invalid address value {value!r}: more than 20 bytes.")
    return data.rjust(32, b"\0")


def _bool(value: Any) -> bytes:
    if value is True or value == "true":
        return (1).to_bytes(32, "big")
    if value is False or value == "false":
        return bytes(32)
    raise ValueError(f"Invalid boolean value {value!r}.")


def _dynamic(data: bytes) -> bytes:
    return len(data).to_bytes(32, "big") + data.ljust(-(-len(data) // 32) * 32, b"\0")


def _bytes(value: Any) -> bytes:
    return _dynamic(parse_bytes(value))


def _string(value: Any) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"Expected a string, but received {value!r}.")
    return _dynamic(value.encode("utf-8"))


def _encoder(type_: str) -> tuple[Callable[[Any], bytes], bool]:
    """The encoder of one type and whether the type is dynamic."""
    simple = {"address": _address, "bool": _bool, "bytes": _bytes, "string": _string}
    if type_ in simple:
        return simple[type_], type_ in ("bytes", "string")
    match = _TYPE.match(type_)
    if match:
        kind, size = (
            match.group(1),
            int(match.group(2) or (256 if match.group(1) != "bytes" else 0)),
        )
        if kind == "uint" and 8 <= size <= 256 and size % 8 == 0:
            return _uint(size), False
        if kind == "int" and 8 <= size <= 256 and size % 8 == 0:
            return _int(size), False
        if kind == "bytes" and 1 <= size <= 32:
            return _fixed_bytes(size), False
    raise ValueError(f"Unsupported leaf type {type_!r}")


@functools.cache
def _encoders(types: tuple[str, ...]) -> list[tuple[Callable[[Any], bytes], bool]]:
    return [_encoder(t) for t in types]


def abi_encode(types: Sequence[str], values: Sequence[Any]) -> bytes:
    """Solidity's `abi.encode` of a tuple of values of the given types.

    Args:
        types: The Solidity types, e.g. `["address", "uint256"]`.
        values: One value per type.

    Returns:
        The encoding: static words and offsets first, then the dynamic tails.

    Raises:
        ValueError: An unsupported type, a value of the wrong shape, or out of range.
    """
    encoders = _encoders(tuple(types))
    if isinstance(values, str | bytes) or len(values) != len(encoders):
        raise ValueError(f"Expected {len(encoders)} values for {list(types)}, got {values!r}")
    heads: list[bytes] = []
    tails: list[bytes] = []
    offset = 32 * len(encoders)
    for (encode, dynamic), value in zip(encoders, values, strict=True):
        data = encode(value)
        if dynamic:
            heads.append(offset.to_bytes(32, "big"))
            tails.append(data)
            offset += len(data)
        else:
            heads.append(data)
    return b"".join(heads + tails)


def standard_leaf_hash(types: Sequence[str], value: Sequence[Any]) -> bytes:
    """OpenZeppelin's `standardLeafHash`: `keccak256(keccak256(abi.encode(types, value)))`."""
    return keccak256(keccak256(abi_encode(types, value)))


def evm_claim_leaf(index: int, account: str | bytes, amount: int) -> bytes:
    """The leaf hash of an EVM claim, as the MerkleDistributor contract computes it.

    Args:
        index: The claim index.
        account: The claimant's address, `0x` hex or 20 bytes.
        amount: The amount in base units.

    Returns:
        `keccak256(keccak256(abi.encode(index, account, amount)))`.
    """
    return standard_leaf_hash(EVM_CLAIM_ENCODING, (index, account, amount))


def solana_claim_leaf(index: int, owner: bytes, amount: int) -> bytes:
    """The leaf hash of a Solana claim: the owner's 32-byte public key as `bytes32`.

    Raises:
        ValueError: The owner is not 32 bytes.
    """
    if len(owner) != 32:
        raise ValueError("a Solana owner is a 32-byte public key")
    return standard_leaf_hash(SOLANA_CLAIM_ENCODING, (index, owner, amount))


def claim_leaf_hashes(
    indexes: Sequence[int],
    accounts: Sequence[bytes],
    amounts: Sequence[int],
    progress: Progress | None = None,
) -> list[bytes]:
    """Standard leaf hashes of already validated claim rows, packed without the generic encoder.

    Args:
        indexes: Claim indexes, each in `[0, 2**256)`.
        accounts: 20-byte EVM addresses or 32-byte Solana owners (all of one kind).
        amounts: Amounts, each in `[0, 2**256)`.
        progress: Called with the number of leaves hashed after each chunk.

    Returns:
        One 32-byte leaf hash per row, in row order.
    """

    def leaf_bytes(first: int, stop: int) -> bytes:
        parts = []
        for start in range(first, stop, _LEAF_CHUNK):
            end = min(start + _LEAF_CHUNK, stop)
            index_words = map(int.to_bytes, indexes[start:end], repeat(32))
            amount_words = map(int.to_bytes, amounts[start:end], repeat(32))
            if keccak_native.available():  # three columns in, the rows are made in C
                leaves = keccak_native.claim_leaves(
                    b"".join(index_words), b"".join(accounts[start:end]), b"".join(amount_words)
                )
                parts.append(leaves)
            else:
                words: list[Iterable[bytes]] = [index_words]
                words += [repeat(_ZERO12)] if width == 20 else []
                words += [accounts[start:end], amount_words]
                parts.append(double_hash_rows(words, end - start, 96))
            if progress is not None:  # a forked child's calls go nowhere
                progress(end - start)
                reported.append(end - start)
        return b"".join(parts)

    widths = set(map(len, accounts))
    if len(widths) > 1 or not widths <= {20, 32}:
        raise ValueError("accounts must all be 20-byte addresses or all 32-byte owners")
    width = widths.pop() if widths else 20
    # Both rounds of a row run in the same process, so a split shares all of the work.
    reported: list[int] = []
    data = in_halves(leaf_bytes, len(indexes))
    if progress is not None and sum(reported) < len(indexes):
        progress(len(indexes) - sum(reported))
    return split_digests(data)


def _claim_columns(
    values: Sequence[Sequence[Any]], account_size: int
) -> tuple[list[int], list[bytes], list[int]]:
    uint = _uint(256)
    account = _address if account_size == 20 else _fixed_bytes(32)
    indexes, accounts, amounts = [], [], []
    for value in values:
        if isinstance(value, str | bytes) or len(value) != 3:
            raise ValueError(f"Expected 3 values, got {value!r}")
        indexes.append(int.from_bytes(uint(value[0]), "big"))
        word = account(value[1])
        accounts.append(word[12:] if account_size == 20 else word)
        amounts.append(int.from_bytes(uint(value[2]), "big"))
    return indexes, accounts, amounts


def standard_leaf_hashes(
    types: Sequence[str], values: Sequence[Sequence[Any]], progress: Progress | None = None
) -> list[bytes]:
    """`standard_leaf_hash` of every value, batched; the claim schemas take the fast path."""
    key = tuple(types)
    if key in (EVM_CLAIM_ENCODING, SOLANA_CLAIM_ENCODING):
        columns = _claim_columns(values, 20 if key == EVM_CLAIM_ENCODING else 32)
        return claim_leaf_hashes(*columns, progress=progress)
    leaves = keccak256_many(keccak256_many([abi_encode(types, v) for v in values]))
    if progress is not None:
        progress(len(leaves))
    return leaves
