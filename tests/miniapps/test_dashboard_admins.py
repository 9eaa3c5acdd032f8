"""The dashboard's admin check: Telegram's answer kept briefly, refusals cached, silence not."""

from __future__ import annotations

import pytest
from aiogram.exceptions import TelegramBadRequest, TelegramNetworkError
from aiogram.methods import GetChatMember

from miniapps.dashboard_auth import AdminCheck, AdminUnknown

METHOD = GetChatMember(chat_id=-1, user_id=1)


class Telegram:
    """Stands in for getChatMember: a status per member, or an error to raise."""

    def __init__(self) -> None:
        self.statuses = {1: "creator", 2: "administrator", 3: "member", 4: "left"}
        self.error: Exception | None = None
        self.calls = 0

    async def status(self, chat_id: int, member_id: int) -> str:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self.statuses[member_id]


async def test_creators_and_administrators_only() -> None:
    telegram = Telegram()
    check = AdminCheck(telegram.status)
    assert [await check.is_admin(-1, m) for m in (1, 2, 3, 4)] == [True, True, False, False]


async def test_answers_are_cached_for_the_ttl_only() -> None:
    telegram = Telegram()
    check = AdminCheck(telegram.status, ttl=60)
    assert await check.is_admin(-1, 2)
    telegram.statuses[2] = "member"
    assert await check.is_admin(-1, 2)
    assert telegram.calls == 1
    expired = AdminCheck(telegram.status, ttl=0)
    assert not await expired.is_admin(-1, 2)
    telegram.statuses[2] = "administrator"
    assert await expired.is_admin(-1, 2)


async def test_unknown_chat_is_no_but_silence_is_not_an_answer() -> None:
    telegram = Telegram()
    check = AdminCheck(telegram.status)
    telegram.error = TelegramBadRequest(METHOD, "chat not found")
    assert not await check.is_admin(-1, 1)
    telegram.error = TelegramNetworkError(METHOD, "timeout")
    with pytest.raises(AdminUnknown):
        await check.is_admin(-1, 2)
    telegram.error = None
    # The network failure was not remembered as a refusal.
    assert await check.is_admin(-1, 2)
