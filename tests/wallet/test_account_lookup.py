"""The account -> claim index lookup that proof lookups search instead of a table index."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wallet.account_lookup import AccountLookupError, account_lookup, find_index


@given(
    st.sets(st.binary(min_size=20, max_size=20), max_size=60), st.binary(min_size=20, max_size=20)
)
def test_every_account_finds_its_index(accounts: set[bytes], other: bytes) -> None:
    ordered = list(accounts)
    lookup = account_lookup(ordered)
    assert len(lookup) == 1 + 24 * len(ordered)
    for index, account in enumerate(ordered):
        assert find_index(lookup, account) == index
    if other not in accounts:
        assert find_index(lookup, other) is None


@given(st.sets(st.binary(min_size=32, max_size=32), min_size=1, max_size=30))
def test_solana_owners(owners: set[bytes]) -> None:
    ordered = sorted(owners, reverse=True)
    lookup = account_lookup(ordered)
    assert [find_index(lookup, o) for o in ordered] == list(range(len(ordered)))
    # An address is never found among owners, even when it prefixes one.
    assert find_index(lookup, ordered[0][:20]) is None


def test_edges() -> None:
    empty = account_lookup([])
    assert find_index(empty, bytes(20)) is None
    lookup = account_lookup([b"\x01" * 20, b"\x00" * 20, b"\xff" * 20])
    assert [find_index(lookup, bytes([b]) * 20) for b in (0, 1, 0xFF, 2)] == [1, 0, 2, None]
    assert find_index(lookup, b"\x01" * 32) is None
    assert find_index(lookup[:-1], b"\x01" * 20) is None  # a truncated buffer finds nothing
    assert find_index(b"", b"\x01" * 20) is None


@pytest.mark.parametrize(
    ("accounts", "message"),
    [
        ([b"\x01" * 20, b"\x02" * 20, b"\x01" * 20], "duplicate account 0x0101"),
        ([b"\x01" * 20, b"\x02" * 32], "20-byte addresses or all 32-byte owners"),
        ([b"\x01" * 19], "20-byte addresses or all 32-byte owners"),
    ],
)
def test_bad_accounts_are_refused(accounts: list[bytes], message: str) -> None:
    with pytest.raises(AccountLookupError, match=message):
        account_lookup(accounts)
