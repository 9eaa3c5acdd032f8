"""What a message says, reduced to what scoring needs: its content weight and a similarity hash.

Pure functions. The text itself is never stored; only a 64-bit simhash of its normalised form,
so near-duplicates can be found and every decision can be re-checked from the ledger.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata

from engagement import simhash_native

URL = re.compile(
    r"(?:https?://|www\.|t\.me/|tg://)\S+|\b[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}(?:/\S*)?",
    re.IGNORECASE,
)
MENTION = re.compile(r"@\w{3,}")
# What `normalise` makes of each ASCII character: letters lower-cased, digits kept, the rest " ".
_ASCII_WORDS = str.maketrans(
    {chr(code): chr(code).lower() if chr(code).isalnum() else " " for code in range(128)}
)
HASH_BITS = 64
MASK = (1 << HASH_BITS) - 1
SHINGLE = 3


def normalise(text: str) -> str:
    """Letters and digits only, case-folded, single-spaced; links and mentions removed.

    Emoji, punctuation and symbols disappear, so messages that are only those normalise to "".
    """
    if not text.isascii():  # NFKC leaves ASCII as it is
        text = unicodedata.normalize("NFKC", text)
    text = _without_links_and_mentions(text)
    if text.isascii():
        # Most messages. In ASCII, casefold is lower() and the letters and digits (categories L
        # and N) are exactly the alphanumerics: one table lookup per character does it all.
        return " ".join(text.translate(_ASCII_WORDS).split())
    kept = [ch if unicodedata.category(ch)[0] in "LN" else " " for ch in text.casefold()]
    return " ".join("".join(kept).split())


def _without_links_and_mentions(text: str) -> str:
    # Every link URL matches holds a "." or a ":" (each prefix of its first branch does, and its
    # second branch needs a dot before the top-level domain), and every mention an "@"; no other
    # character matches these, IGNORECASE or not. Without them the searches find nothing.
    if "." in text or ":" in text:
        text = URL.sub(" ", text)
    if "@" in text:
        text = MENTION.sub(" ", text)
    return text


def has_link(text: str) -> bool:
    """Whether the text holds a link (URL, bare domain or t.me path)."""
    if "." not in text and ":" not in text:  # URL needs one: see _without_links_and_mentions
        return False
    return URL.search(text) is not None


def weight(content: str) -> int:
    """Length in Latin-letter units: a wide (CJK) character counts twice, a space not at all.

    A ten-letter English message and a five-character Chinese one carry about as much.
    """
    if content.isascii():  # most messages: no wide character to look up
        return len(content) - content.count(" ")
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in content if ch != " ")


# Character 3-grams repeat across messages far more than they vary: hashing each once saves
# most of a message's simhash.
@functools.lru_cache(maxsize=1 << 16)
def _feature_hash(feature: str) -> int:
    return int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "big")


def simhash(content: str) -> int:
    """Charikar's simhash over character 3-grams: similar texts get hashes a few bits apart.

    Each 3-gram of the content (spaces read as "_"; shorter content is one 3-gram) counts with
    the first 8 bytes, big-endian, of its BLAKE2b digest of size 8; a bit is set when more than
    half of the 3-grams set it. Our C library (`engagement.simhash_native`) computes the same
    when it is built.

    Returns 0 for empty content (0 means "no text" everywhere in scoring).
    """
    if not content:
        return 0
    native = simhash_native.function()
    if native is not None:
        try:
            data = content.encode()
        except UnicodeEncodeError:  # a lone surrogate: the Python code raises as it always has
            return simhash_python(content)
        return native(data, len(data))
    return simhash_python(content)


def simhash_python(content: str) -> int:
    """`simhash` in Python alone: what the C library must agree with, and the fallback."""
    if not content:
        return 0
    compact = content.replace(" ", "_")
    if len(compact) <= SHINGLE:
        shingles = [compact]
    else:
        shingles = [compact[i : i + SHINGLE] for i in range(len(compact) - SHINGLE + 1)]
    # Per-bit vote counts kept bit-sliced: slices[j] holds bit j of all 64 counters, so adding
    # one feature hash costs a few big-integer operations instead of 64 additions.
    slices: list[int] = []
    for shingle in shingles:
        carry = _feature_hash(shingle)
        for j, current in enumerate(slices):
            slices[j], carry = current ^ carry, current & carry
            if not carry:
                break
        if carry:
            slices.append(carry)
    # A bit is set when more than half of the features set it: count > len // 2.
    threshold = len(shingles) // 2
    greater, equal = 0, MASK
    for j in range(max(len(slices), threshold.bit_length()) - 1, -1, -1):
        bit = slices[j] if j < len(slices) else 0
        if threshold >> j & 1:
            equal &= bit
        else:
            greater |= equal & bit
            equal &= ~bit & MASK
    # 0 is reserved for "no text"; a real text hashing to 0 is astronomically unlikely.
    return greater or 1


def distance(a: int, b: int) -> int:
    """Hamming distance between two simhashes."""
    return (a ^ b).bit_count()


def to_signed(value: int) -> int:
    """Maps an unsigned 64-bit hash onto a signed BIGINT column."""
    return value - (1 << 64) if value >= 1 << 63 else value


def to_unsigned(value: int) -> int:
    """The inverse of `to_signed`."""
    return value + (1 << 64) if value < 0 else value
