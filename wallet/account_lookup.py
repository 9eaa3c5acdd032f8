"""An account -> claim index lookup of one claim tree, as one sorted bytes buffer.

A proof lookup starts from an address. An index over a million random addresses inserted into
a database B-tree costs more than building the whole Merkle tree, so each tree carries its own
lookup instead: one byte holding the account size (20 for EVM addresses, 32 for Solana owners),
then the records `account || index` (the account, then the claim index as 4 big-endian bytes),
sorted, concatenated. A binary search over the fixed-width
records finds an account in about 20 comparisons, without parsing anything.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from typing import overload

_INDEX = 4  # bytes of the claim index in each record
_ACCOUNT_SIZES = (20, 32)  # EVM addresses, Solana owners


class AccountLookupError(ValueError):
    """Accounts that cannot form a lookup: mixed sizes, duplicates, or too many claims."""


def account_lookup(accounts: Sequence[bytes]) -> bytes:
    """The sorted `account || index` records of `accounts`, claim `i` being `accounts[i]`.

    Args:
        accounts: The claims' accounts in index order, all 20 or all 32 bytes, distinct.

    Returns:
        The lookup buffer.

    Raises:
        AccountLookupError: Mixed or unknown sizes, a duplicated account, or 2**32 claims or more.
    """
    if not accounts:
        return bytes([_ACCOUNT_SIZES[0]])
    sizes = set(map(len, accounts))
    if len(sizes) != 1 or not sizes <= set(_ACCOUNT_SIZES):
        raise AccountLookupError("accounts must all be 20-byte addresses or all 32-byte owners")
    if len(accounts) >> (8 * _INDEX):
        raise AccountLookupError("too many claims for a 4-byte index")
    records = [a + i.to_bytes(_INDEX, "big") for i, a in enumerate(accounts)]
    records.sort()
    size = sizes.pop()
    for previous, record in zip(records, records[1:], strict=False):
        if previous[:size] == record[:size]:
            raise AccountLookupError(f"duplicate account 0x{record[:size].hex()}")
    return bytes([size]) + b"".join(records)


class _Accounts(Sequence[bytes]):
    """The account part of each record, for `bisect` (read one at a time, never copied)."""

    def __init__(self, lookup: bytes, size: int) -> None:
        self._lookup, self._size, self._width = lookup, size, size + _INDEX

    def __len__(self) -> int:
        return (len(self._lookup) - 1) // self._width

    @overload
    def __getitem__(self, i: int) -> bytes: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[bytes]: ...

    def __getitem__(self, i: int | slice) -> bytes | Sequence[bytes]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        at = 1 + i * self._width
        return self._lookup[at : at + self._size]


def find_index(lookup: bytes, account: bytes) -> int | None:
    """The claim index of `account` (20 or 32 bytes) in `lookup`, or None when it has no claim.

    Args:
        lookup: An `account_lookup` buffer.
        account: The raw address or owner; one of another size is never found.

    Returns:
        The claim index, or None.
    """
    size = len(account)
    if not lookup or lookup[0] != size or (len(lookup) - 1) % (size + _INDEX):
        return None
    accounts = _Accounts(lookup, size)
    i = bisect_left(accounts, account)
    if i == len(accounts) or accounts[i] != account:
        return None
    at = 1 + i * (size + _INDEX) + size
    return int.from_bytes(lookup[at : at + _INDEX], "big")
