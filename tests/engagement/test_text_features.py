"""Text features scoring relies on: normalisation, content weight, links, simhash."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engagement import text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Hello,   World!", "hello world"),
        ("see https://example.com/a?b=1 now", "see now"),
        ("www.example.org and t.me/somegroup", "and"),
        ("ping @someone please", "ping please"),
        ("😀🎉👍", ""),
        ("!!! ??? ...", ""),
        ("Ｆｕｌｌ width", "full width"),
        ("我同意这个观点！", "我同意这个观点"),
        ("under_score stays", "under score stays"),
    ],
)
def test_normalise(raw: str, expected: str) -> None:
    assert text.normalise(raw) == expected


@pytest.mark.parametrize(
    ("content", "weight"),
    [("", 0), ("abc", 3), ("a b c", 3), ("我同意", 6), ("ok 好", 4)],
)
def test_weight_counts_wide_characters_twice(content: str, weight: int) -> None:
    assert text.weight(content) == weight


@pytest.mark.parametrize(
    ("raw", "link"),
    [
        ("https://x.io", True),
        ("go to example.com", True),
        ("t.me/joinchat/abc", True),
        ("no link here.", False),
        ("version 1.2", False),
    ],
)
def test_has_link(raw: str, link: bool) -> None:
    assert text.has_link(raw) is link


def test_simhash_of_nothing_is_zero_and_of_text_never_is() -> None:
    assert text.simhash("") == 0
    assert text.simhash("a") != 0


@pytest.mark.parametrize(
    ("a", "b", "near"),
    [
        ("the meeting is at five today", "the meeting is at five today!", True),
        ("the meeting is at five today", "The Meeting is at five today", True),
        (
            "please everyone read the pinned message about the rules",
            "please everyone read the pinned message about the rule",
            True,
        ),
        ("the meeting is at five today", "completely unrelated words here", False),
        ("buy cheap tokens now limited offer", "what do you think of the new release", False),
    ],
)
def test_near_duplicates_are_close(a: str, b: str, near: bool) -> None:
    distance = text.distance(text.simhash(text.normalise(a)), text.simhash(text.normalise(b)))
    assert (distance <= 6) is near


@given(st.text(min_size=1, max_size=80))
def test_simhash_is_deterministic_and_fits_64_bits(raw: str) -> None:
    content = text.normalise(raw)
    value = text.simhash(content)
    assert value == text.simhash(content)
    assert 0 <= value < 1 << 64
    assert text.to_unsigned(text.to_signed(value)) == value
    assert -(1 << 63) <= text.to_signed(value) < 1 << 63


@given(st.text(alphabet="abcdefgh ", min_size=1, max_size=60))
def test_simhash_matches_plain_majority_vote(content: str) -> None:
    """The bit-sliced counter gives exactly Charikar's per-bit majority."""
    content = " ".join(content.split())
    if not content:
        return
    compact = content.replace(" ", "_")
    shingles = (
        [compact] if len(compact) <= 3 else [compact[i : i + 3] for i in range(len(compact) - 2)]
    )
    votes = [0] * 64
    for shingle in shingles:
        value = text._feature_hash(shingle)
        for bit in range(64):
            votes[bit] += 1 if value >> bit & 1 else -1
    expected = sum(1 << bit for bit in range(64) if votes[bit] > 0) or 1
    assert text.simhash(content) == expected
