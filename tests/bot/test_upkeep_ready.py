"""Upkeep waits for the Bot API before its first round, asking less and less often."""

from __future__ import annotations

from typing import Any

import pytest
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import GetMe

from bot import upkeep


class FlakyBot:
    """A bot whose Bot API fails `failures` times before it answers."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def get_me(self) -> Any:
        self.calls += 1
        if self.calls <= self.failures:
            raise TelegramNetworkError(method=GetMe(), message="unreachable")
        return object()


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []

    async def sleep(delay: float) -> None:
        slept.append(delay)

    monkeypatch.setattr(upkeep.asyncio, "sleep", sleep)
    return slept


async def test_the_bot_api_is_asked_less_and_less_often(sleeps: list[float]) -> None:
    bot = FlakyBot(failures=7)
    await upkeep._ready(bot)  # type: ignore[arg-type]
    assert bot.calls == 8
    assert sleeps == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]


async def test_a_bot_api_that_answers_is_not_waited_for(sleeps: list[float]) -> None:
    bot = FlakyBot(failures=0)
    await upkeep._ready(bot)  # type: ignore[arg-type]
    assert (bot.calls, sleeps) == (1, [])
