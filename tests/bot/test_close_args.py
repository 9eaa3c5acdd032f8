"""`/close POOL [min=N] [cap=SHARE] [sqrt|linear]`: what the command accepts, and the preview's
buttons carrying those parameters within Telegram's 64 bytes of callback data."""

from __future__ import annotations

import pytest

from bot.handlers.epochs import EpochAction, parse_close
from engagement.settlement import AllocationParams


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("1000", AllocationParams(1000)),
        ("1000 sqrt", AllocationParams(1000, transform="sqrt")),
        ("1000 min=5 cap=0.05", AllocationParams(1000, 5, "0.05")),
        ("1000 cap=1 linear min=0", AllocationParams(1000, 0, "1")),
        ("1000 sqrt linear", AllocationParams(1000)),
        ("9" * 31, AllocationParams(10**31 - 1)),
    ],
)
def test_accepted(args: str, expected: AllocationParams) -> None:
    assert parse_close(args) == expected


@pytest.mark.parametrize(
    "args",
    ["", "0", "-5", "abc", "1000 cap=0", "1000 cap=1.5", "1000 cap=.5", "1000 min=x",
     "1000 min=", "1000 squared", "1000 cap=0.5:1", "1000 cap=0.00001", "1000 min=1000000000",
     "1" + "0" * 31],
)  # fmt: skip
def test_refused(args: str) -> None:
    assert parse_close(args) is None


def test_buttons_carry_the_parameters_within_64_bytes() -> None:
    params = AllocationParams(10**31 - 1, 10**9 - 1, "0.0001", "sqrt")
    for action in ("publish", "refresh"):
        data = EpochAction.of(action, 99_999, params).pack()
        assert len(data.encode()) <= 64
        assert EpochAction.unpack(data).params() == params
    assert EpochAction.unpack(
        EpochAction.of("publish", 1, AllocationParams(7)).pack()
    ).params() == (AllocationParams(7))
