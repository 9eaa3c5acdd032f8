"""Exact pool splits: vectors, errors, and properties against a plain reference."""

from __future__ import annotations

import math
import random
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engagement.allocation import AllocationError, allocate

VECTORS = [
    ({"a": 1, "b": 1, "c": 1}, 10, {}, {"a": 4, "b": 3, "c": 3}),
    ({"a": 1, "b": 3}, 2, {}, {"a": 0, "b": 2}),  # equal remainders: the heavier wins
    ({10: 1, 9: 1}, 1, {}, {10: 1, 9: 0}),  # then the key as a string: "10" < "9"
    ({"a": 1, "b": 1, "c": 1}, 2, {}, {"a": 1, "b": 1, "c": 0}),  # zero amounts stay listed
    ({"a": 5, "b": 0, "c": -3}, 7, {}, {"a": 7}),
    ({"a": 5, "b": 2, "c": 9}, 16, {"min_score": 5}, {"a": 6, "c": 10}),
    ({"a": 5, "b": 2, "c": 9}, 7, {"excluded": ["c"]}, {"a": 5, "b": 2}),
    ({"a": 100, "b": 1, "c": 1}, 100, {"cap_share": "0.5"}, {"a": 50, "b": 25, "c": 25}),
    (
        {"a": 100, "b": 50, "c": 1, "d": 1},
        1000,
        {"cap_share": Fraction(1, 4)},
        dict.fromkeys("abcd", 250),
    ),
    ({"a": 100, "b": 1, "c": 1}, 101, {"cap_share": Decimal("0.5")}, {"a": 51, "b": 25, "c": 25}),
    ({"a": 4, "b": 9}, 10, {"transform": "sqrt"}, {"a": 4, "b": 6}),
    ({"a": 1, "b": 1}, 0, {}, {"a": 0, "b": 0}),
]


@pytest.mark.parametrize(("scores", "pool", "options", "expected"), VECTORS)
def test_vectors(scores: dict, pool: int, options: dict, expected: dict) -> None:
    result = allocate(scores, pool, **options)
    assert result == expected
    assert list(result) == list(expected)


ERRORS = [
    ({"a": 1}, -1, {}, "must not be negative"),
    ({"a": 1}, 1.0, {}, "integer number"),
    ({"a": 1}, True, {}, "integer number"),
    ({"a": 0, "b": -2}, 5, {}, "no eligible members"),
    ({"a": 3}, 5, {"min_score": 4}, "no eligible members"),
    ({"a": 3}, 5, {"excluded": {"a"}}, "no eligible members"),
    ({"a": 1.5}, 5, {}, "scores must be integers"),
    ({"a": 1}, 5, {"transform": "log"}, "unknown transform"),
    ({"a": 1}, 5, {"cap_share": "abc"}, "not a number"),
    ({"a": 1}, 5, {"cap_share": 0}, "must be in"),
    ({"a": 1}, 5, {"cap_share": "1.5"}, "must be in"),
    ({"a": 1, "b": 1, "c": 1}, 5, {"cap_share": "0.3"}, "too small"),
]


@pytest.mark.parametrize(("scores", "pool", "options", "message"), ERRORS)
def test_errors(scores: dict, pool: object, options: dict, message: str) -> None:
    with pytest.raises(AllocationError, match=message):
        allocate(scores, pool, **options)  # type: ignore[arg-type]


def reference_quotas(
    weights: dict[str, int], pool: int, cap: Fraction | None
) -> dict[str, Fraction]:
    """Water-filling the plain way: cap everyone over the cap, re-split, until nothing changes."""
    capped: set[str] = set()
    while True:
        free = {k: w for k, w in weights.items() if k not in capped}
        left = pool - (cap * pool * len(capped) if cap is not None else 0)
        total = sum(free.values())
        quotas = {k: Fraction(w * left, total) for k, w in free.items()} if total else {}
        over = {k for k, q in quotas.items() if cap is not None and q > cap * pool}
        if not over:
            return {**quotas, **{k: cap * pool for k in capped if cap is not None}}
        capped |= over


def weight(score: int, transform: str) -> int:
    return score if transform == "linear" else math.isqrt(score << 128)


scores_st = st.dictionaries(
    st.text(alphabet="abcdefgh", min_size=1, max_size=3),
    st.integers(-5, 10**6),
    min_size=1,
    max_size=40,
)
caps = st.none() | st.fractions(min_value=Fraction(1, 50), max_value=1)


@settings(max_examples=200, deadline=None)
@given(
    scores_st,
    st.integers(0, 10**30),
    caps,
    st.sampled_from(["linear", "sqrt"]),
    st.integers(0, 100),
)
def test_properties(
    scores: dict[str, int], pool: int, cap: Fraction | None, transform: str, min_score: int
) -> None:
    eligible = {k: s for k, s in scores.items() if s >= max(min_score, 1)}
    if not eligible or (cap is not None and cap * len(eligible) < 1):
        with pytest.raises(AllocationError):
            allocate(scores, pool, cap_share=cap, transform=transform, min_score=min_score)  # type: ignore[arg-type]
        return
    result = allocate(scores, pool, cap_share=cap, transform=transform, min_score=min_score)  # type: ignore[arg-type]
    assert set(result) == set(eligible)
    assert sum(result.values()) == pool
    assert all(amount >= 0 for amount in result.values())
    quotas = reference_quotas({k: weight(s, transform) for k, s in eligible.items()}, pool, cap)
    assert all(abs(result[k] - quotas[k]) < 1 for k in eligible)
    if cap is not None:
        assert max(result.values()) <= math.ceil(cap * pool)
    ranked = sorted(eligible, key=eligible.__getitem__)
    for lower, higher in zip(ranked, ranked[1:], strict=False):
        if eligible[higher] > eligible[lower]:
            assert result[higher] >= result[lower]


@settings(max_examples=100, deadline=None)
@given(scores_st, st.integers(0, 10**24), st.randoms(use_true_random=False), caps)
def test_order_of_the_mapping_does_not_matter(
    scores: dict[str, int], pool: int, rng: random.Random, cap: Fraction | None
) -> None:
    items = list(scores.items())
    rng.shuffle(items)
    try:
        expected = allocate(scores, pool, cap_share=cap)
    except AllocationError:
        return
    assert allocate(dict(items), pool, cap_share=cap) == expected
    assert allocate(scores, pool, cap_share=cap) == expected  # and the same twice


@settings(max_examples=100, deadline=None)
@given(scores_st, st.integers(0, 10**24), st.data())
def test_excluded_members_get_nothing(
    scores: dict[str, int], pool: int, data: st.DataObject
) -> None:
    excluded = data.draw(st.sets(st.sampled_from(sorted(scores))))
    try:
        result = allocate(scores, pool, excluded=excluded)
    except AllocationError:
        assert all(scores[k] <= 0 for k in scores if k not in excluded)
        return
    assert not set(result) & excluded
    assert sum(result.values()) == pool


def test_integer_keys_and_large_pools() -> None:
    scores = {i: i % 7 for i in range(1000)}
    result = allocate(scores, 10**27 + 3)
    assert sum(result.values()) == 10**27 + 3
    assert set(result) == {i for i in range(1000) if i % 7}


def reference_allocate(scores: dict[str, int], pool: int, cap: Fraction | None) -> dict[str, int]:
    """Largest remainders the plain way: sort everyone by (remainder, weight, key)."""
    eligible = {k: s for k, s in scores.items() if s > 0}
    quotas = reference_quotas(eligible, pool, cap)
    amounts = {k: math.floor(q) for k, q in quotas.items()}
    ranked = sorted(eligible, key=lambda k: (-(quotas[k] - amounts[k]), -eligible[k], str(k)))
    for k in ranked[: pool - sum(amounts.values())]:
        amounts[k] += 1
    return amounts


@pytest.mark.parametrize("cap", [None, Fraction(1, 500)])
@pytest.mark.parametrize("spread", [3, 1000, 10**9])
def test_large_splits_match_the_plain_reference(spread: int, cap: Fraction | None) -> None:
    rng = random.Random(spread)
    scores = {f"m{i}": rng.randrange(1, spread) for i in range(9_000)}
    scores["whale"] = spread * 5000
    for pool in (10**24 + 7, 15_001, 3):
        assert allocate(scores, pool, cap_share=cap) == reference_allocate(scores, pool, cap)
