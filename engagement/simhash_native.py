"""The simhash of `engagement.text` in our own C library (`engagement/native/simhash.c`).

`make deps` compiles the library; without it (no C compiler) `available()` is False and
`engagement.text.simhash` computes in Python, with identical results.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable
from pathlib import Path

LIBRARY = Path(__file__).resolve().parent / "native" / "libsimhash.so"
# simhash("probe_é") as the Python code computes it: a library that disagrees is not used.
_PROBE = ("probe_é", 0xE9664FFE580979EC)

Function = Callable[[bytes, int], int]
"""The library's `ts_simhash(utf8, length)`: the simhash of UTF-8 bytes."""


@functools.cache
def function() -> Function | None:
    """The library's simhash entry point, or None when the library is not built or not ours."""
    if not LIBRARY.exists():
        return None
    try:
        # PyDLL keeps the GIL: a call takes about a microsecond, less than releasing and taking
        # the GIL back would, and the library's 3-gram cache relies on calls never overlapping.
        native = ctypes.PyDLL(str(LIBRARY)).ts_simhash
    except (OSError, AttributeError):  # unloadable, or built from another version of the source
        return None
    native.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    native.restype = ctypes.c_uint64
    text, expected = _PROBE
    data = text.encode()
    return native if native(data, len(data)) == expected else None


def available() -> bool:
    """Whether the library is built and loads."""
    return function() is not None
