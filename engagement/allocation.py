"""Splits a token pool among members by score, exactly, with integers only.

The split is a pure function of its arguments: no floats, no clock, no randomness, and the same
result on every machine and for every order of the input mapping.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Iterable, Mapping
from decimal import Decimal
from fractions import Fraction
from math import isqrt
from typing import Literal, TypeVar

K = TypeVar("K", bound=Hashable)
Transform = Literal["linear", "sqrt"]
_SQRT_SHIFT = 128  # sqrt weights are floor(sqrt(score) * 2**64)


class AllocationError(ValueError):
    """The pool cannot be split as asked."""


def _cap_fraction(cap_share: Fraction | Decimal | str | int) -> Fraction:
    try:
        cap = Fraction(cap_share)
    except (TypeError, ValueError, ZeroDivisionError) as exc:
        raise AllocationError(f"cap_share {cap_share!r} is not a number") from exc
    if not 0 < cap <= 1:
        raise AllocationError(f"cap_share must be in (0, 1], got {cap_share!r}")
    return cap


def _weights(
    scores: Mapping[K, int], min_score: int, transform: Transform, excluded: Iterable[K]
) -> tuple[list[K], list[int]]:
    if not set(map(type, scores.values())) <= {int}:
        raise AllocationError("scores must be integers")
    skip = set(excluded)
    # Negative scores count as 0 and zero weights are dropped, so the floor is at least 1.
    floor = max(min_score, 1)
    if transform not in ("linear", "sqrt"):
        raise AllocationError(f"unknown transform {transform!r}: use 'linear' or 'sqrt'")
    if not skip and (not scores or min(scores.values()) >= floor):
        keys, values = list(scores), list(scores.values())  # everyone takes part
    else:
        eligible = [(k, s) for k, s in scores.items() if s >= floor and k not in skip]
        keys, values = [k for k, _ in eligible], [s for _, s in eligible]
    if transform == "sqrt":
        return keys, [isqrt(s << _SQRT_SHIFT) for s in values]
    return keys, values


def _kth_largest(values: list[int], k: int) -> int:
    """The `k`-th largest of `values` (1-based), sorting only a band around it.

    A regular sample (every `len/1024`-th value) brackets the answer; only the values inside
    the bracket are sorted. The sample only saves time: a bracket that misses falls back to a
    full sort, so the answer never depends on it.
    """
    if len(values) < 8192:
        return sorted(values, reverse=True)[k - 1]
    sample = sorted(values[:: len(values) // 1024], reverse=True)
    at = k * len(sample) // len(values)
    high, low = sample[max(0, at - 32)], sample[min(len(sample) - 1, at + 32)]
    above = sum(1 for v in values if v > high)
    band = [v for v in values if low <= v <= high]
    if above < k <= above + len(band):
        return sorted(band, reverse=True)[k - above - 1]
    return sorted(values, reverse=True)[k - 1]


def _capped(weights: list[int], pool: int, cap: Fraction) -> tuple[int, int]:
    """How many of the heaviest members water-filling caps, and the least capped weight.

    Member `k+1` (by weight) is capped when its share of what the `k` heavier capped members
    leave exceeds the cap. Removing a capped member only raises the others' shares, so members
    of equal weight are capped together. At most `1/cap` members can be capped.
    """
    heaviest = heapq.nlargest(min(len(weights), cap.denominator // cap.numerator + 1), weights)
    total = sum(weights)
    left, count = Fraction(pool), 0
    cap_amount = cap * pool
    while count < len(heaviest) and heaviest[count] * left > cap_amount * total:
        left -= cap_amount
        total -= heaviest[count]
        count += 1
    return count, heaviest[count - 1] if count else 0


def allocate(
    scores: Mapping[K, int],
    pool: int,
    *,
    min_score: int = 0,
    cap_share: Fraction | Decimal | str | int | None = None,
    transform: Transform = "linear",
    excluded: Iterable[K] = (),
) -> dict[K, int]:
    """Splits `pool` base units among members in proportion to their weight.

    Method:
      1. Eligible members: not in `excluded`, score (negative counts as 0) at least `min_score`,
         and a non-zero weight. Weight = score (`linear`) or `isqrt(score * 2**128)`, i.e.
         `floor(sqrt(score) * 2**64)` (`sqrt`): exact integers, the same on every machine.
      2. With `cap_share`, water-filling: a member whose share would exceed `cap_share * pool`
         gets exactly that, and the excess is shared among the others by weight, repeated
         until no share exceeds the cap (members of equal weight are capped together).
      3. Exact quotas are rationals with one common denominator. Each member gets the floor of
         their quota; the units left over (fewer than the members) go one each to the largest
         remainders, ties broken by higher weight, then by member key ascending as a string.

    The amounts sum to `pool` exactly; no amount exceeds `ceil(cap_share * pool)`; a higher
    score never gets less. A pool smaller than the number of members is not an error: some
    members then get 0, and they are still in the result (so are all eligible members).

    Args:
        scores: Member key (str or int) -> integer score.
        pool: Base units to split (>= 0).
        min_score: The least score that takes part.
        cap_share: Largest share of the pool per member, e.g. `"0.05"` or `Fraction(1, 20)`.
        transform: `"linear"` or `"sqrt"`.
        excluded: Members that get nothing (they are left out of the result).

    Returns:
        Every eligible member's amount, in the order of `scores`.

    Raises:
        AllocationError: A negative or non-integer pool, non-integer scores, no eligible
            member, an unknown transform, or a cap under which the pool cannot be placed
            (`cap_share * members < 1`).
    """
    if isinstance(pool, bool) or not isinstance(pool, int):
        raise AllocationError(f"pool must be an integer number of base units, got {pool!r}")
    if pool < 0:
        raise AllocationError(f"pool must not be negative, got {pool}")
    keys, weights = _weights(scores, min_score, transform, excluded)
    if not keys:
        raise AllocationError("no eligible members: nobody reaches min_score with a positive score")
    # Quota of an uncapped member: w * pool * (b - k*a) / (b * W_u); of a capped one:
    # pool * a * W_u / (b * W_u), where cap = a/b, k members are capped, W_u = uncapped weight.
    a, b, capped, heavy = 0, 1, 0, 0
    if cap_share is not None:
        cap = _cap_fraction(cap_share)
        if cap * len(keys) < 1:
            raise AllocationError(
                f"cap_share {cap_share} is too small for {len(keys)} members: "
                "the pool cannot be placed"
            )
        a, b = cap.numerator, cap.denominator
        capped, heavy = _capped(weights, pool, cap)
    uncapped_weight = sum(w for w in weights if w < heavy) if capped else sum(weights)
    denominator = b * uncapped_weight if capped < len(keys) else b
    factor = pool * (b - capped * a)
    capped_numerator = pool * a * (uncapped_weight if capped < len(keys) else 1)
    if capped:
        numerators = [capped_numerator if w >= heavy else w * factor for w in weights]
    else:
        numerators = [w * factor for w in weights]
    amounts = [n // denominator for n in numerators]
    left = pool - sum(amounts)
    if left:
        remainders = [n % denominator for n in numerators]
        threshold = _kth_largest(remainders, left)
        winners = [i for i, r in enumerate(remainders) if r > threshold]
        tied = [i for i, r in enumerate(remainders) if r == threshold]
        tied.sort(key=lambda i: (-weights[i], str(keys[i])))
        for i in winners + tied[: left - len(winners)]:
            amounts[i] += 1
    return dict(zip(keys, amounts, strict=True))
