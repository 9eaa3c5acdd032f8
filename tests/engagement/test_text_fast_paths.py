"""The fast paths of `engagement.text` give exactly what the general code gives, for every text:
the native simhash against the Python one, and normalise/has_link against their plain form.

The ledger stores simhashes and anyone recomputes scoring from it, so "nearly equal" is a bug.
"""

from __future__ import annotations

import random
import re
import shutil
import sys
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engagement import simhash_native, text

_LONG = (
    "Hello everyone, the meeting about the new release moves to five today; "
    "please read the pinned message and vote before Friday. "
) * 3

# Computed with the Python code before the C library existed.
PINNED = [
    ("", 0),
    ("a", 0x40F89E395B66422F),
    ("ab", 0x0E52B5F187DE1088),
    ("abc", 0xD8BB14D833D59559),
    ("abcd", 0x9021040021D58419),
    (" ", 0x516E6B247E0EAB95),
    ("   ", 0x5E6669D7F674439E),
    ("a b", 0xF05E550658986AD7),
    ("_", 0x516E6B247E0EAB95),
    ("\x00", 0x94F6D9CDD1EA8248),
    ("\x00\x00\x00\x00", 0xA0DB1FEB5E9A7F45),
    ("message number 12345 with some words in it", 0xA950781380181D0D),
    ("我同意这个观点", 0x9C722B027B27A8CB),
    ("我同意", 0x1D564B023B2F6CF2),
    ("\U0001f600", 0xF5F08BEBE22AE770),
    ("\U0001f600\U0001f389\U0001f44d", 0x6F0940F64E69D6B3),
    ("\U0001f600\U0001f389\U0001f44dx", 0x080800144C098483),
    ("e\u0301", 0x3A4748957B95906D),
    ("ß", 0x53193F73D68C9349),
    ("\u00fc \u00f1 \u00e9", 0xA742F0614E1AD127),
    ("\U00020000\U00020001\U00020002\U00020003", 0x8010801262C10210),
    ("hello world " * 20, 0x2440E81197524829),
    (_LONG[:300], 0x2D7A89433B9B3841),
    (text.normalise(_LONG[:300]), 0x6D7A8952BB9F3841),
]

# Characters the fast paths must not get wrong: separators and their compatibility forms (which
# NFKC turns into ".", ":" or "@"), characters IGNORECASE folds onto ASCII letters, case-folding
# that changes length, and pieces of links and mentions.
_TRICKY = list(" ._:@-/\t\n\x00ſKİıßẞ．：＠﹫﹒﹕․︓ＡＺａｚ０９") + [
    "https://",
    "www.",
    "t.me/",
    "tg://",
    "@someone",
    "example.com",
    "x.io/path",
    "1.2",
    "no.link",
]
_ALPHABETS = [
    [chr(c) for c in range(0x20, 0x7F)],
    [chr(c) for c in range(0xA0, 0x100)],
    [chr(c) for c in range(0x4E00, 0x4E80)] + [chr(c) for c in range(0xFF01, 0xFF5F)],
    [chr(c) for c in range(0x1F300, 0x1F700)] + ["\u200d", "\ufe0f"],
    [chr(c) for c in range(0x300, 0x370)] + list("aeiou"),
    [chr(c) for c in (0x10000, 0x1D400, 0x20000, 0x2A6DF, 0xE0001, 0x10FFFD)],
    _TRICKY,
]


def _corpus(count: int, seed: int) -> list[str]:
    """Random texts of 0 to 200 pieces: one alphabet each, or a mix of all of them."""
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        length = rng.choice([0, 1, 2, 3, 4, 5, rng.randrange(200), rng.randrange(201)])
        if rng.random() < 0.5:
            alphabet = rng.choice(_ALPHABETS)
            pieces = [rng.choice(alphabet) for _ in range(length)]
        else:
            pieces = [rng.choice(rng.choice(_ALPHABETS)) for _ in range(length)]
        texts.append("".join(pieces))
    return texts


CORPUS = _corpus(3000, seed=20261122)


def _normalise_plain(raw: str) -> str:
    """`normalise` without any shortcut: the definition the fast paths must keep to."""
    raw = unicodedata.normalize("NFKC", raw)
    raw = text.MENTION.sub(" ", text.URL.sub(" ", raw))
    kept = [ch if unicodedata.category(ch)[0] in "LN" else " " for ch in raw.casefold()]
    return " ".join("".join(kept).split())


def require_native() -> None:
    """Our C library must be there wherever `make deps` could compile it; only a machine with no
    C compiler computes simhashes in Python alone, and there the native cases cannot run."""
    if simhash_native.available():
        return
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler here: simhashes are computed in Python")
    pytest.fail(f"run `make deps` to build {simhash_native.LIBRARY}")


@pytest.fixture
def native() -> simhash_native.Function:
    require_native()
    function = simhash_native.function()
    assert function is not None
    return function


def _native_simhash(native: simhash_native.Function, content: str) -> int:
    data = content.encode()
    return native(data, len(data))


def test_the_native_library_is_built_where_a_compiler_is() -> None:
    require_native()
    assert simhash_native.available()


@pytest.mark.parametrize(("content", "expected"), PINNED)
def test_simhash_keeps_its_pinned_values(content: str, expected: int) -> None:
    assert text.simhash_python(content) == expected
    assert text.simhash(content) == expected


def test_the_native_simhash_keeps_the_pinned_values(native: simhash_native.Function) -> None:
    for content, expected in PINNED:
        assert _native_simhash(native, content) == expected, content


def test_native_and_python_simhash_agree_on_random_texts(native: simhash_native.Function) -> None:
    # Twice: the second pass reads the library's 3-gram cache, which the corpus overflows.
    for _ in range(2):
        for raw in CORPUS:
            for content in (raw, text.normalise(raw)):
                expected = text.simhash_python(content)
                assert _native_simhash(native, content) == expected, content
                assert text.simhash(content) == expected, content


@given(st.text(max_size=300))
def test_native_and_python_simhash_agree_on_any_text(raw: str) -> None:
    require_native()
    function = simhash_native.function()
    assert function is not None
    assert _native_simhash(function, raw) == text.simhash_python(raw)


def test_simhash_without_the_library_is_the_python_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(simhash_native, "function", lambda: None)
    for content, expected in PINNED:
        assert text.simhash(content) == expected


def test_a_lone_surrogate_fails_as_it_always_has() -> None:
    with pytest.raises(UnicodeEncodeError):
        text.simhash("ab\ud800cd")
    with pytest.raises(UnicodeEncodeError):
        text.simhash_python("ab\ud800cd")


def test_normalise_and_has_link_agree_with_their_plain_form() -> None:
    for raw in CORPUS:
        assert text.normalise(raw) == _normalise_plain(raw), raw
        assert text.has_link(raw) is (text.URL.search(raw) is not None), raw


@given(st.text(max_size=300))
def test_normalise_and_has_link_agree_on_any_text(raw: str) -> None:
    assert text.normalise(raw) == _normalise_plain(raw)
    assert text.has_link(raw) is (text.URL.search(raw) is not None)


def test_in_ascii_letters_and_digits_are_the_alphanumerics_and_casefold_is_lower() -> None:
    for code in range(128):
        ch = chr(code)
        assert (unicodedata.category(ch)[0] in "LN") is ch.isalnum()
        assert ch.casefold() == ch.lower()
        assert unicodedata.normalize("NFKC", ch) == ch


def test_only_the_characters_themselves_match_the_separators_the_shortcuts_look_for() -> None:
    # The link and mention searches are skipped for texts without ".", ":" or "@"; the patterns
    # need one of those literally, so no other character may match them under the same flags.
    dots = re.compile(r"\.|:", text.URL.flags)
    at = re.compile("@", text.MENTION.flags)
    for code in range(sys.maxunicode + 1):
        ch = chr(code)
        assert (dots.match(ch) is not None) is (ch in ".:")
        assert (at.match(ch) is not None) is (ch == "@")
