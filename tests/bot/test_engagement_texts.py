"""Engagement texts: every rule, kind and flag a member or manager can see has a label, in
English and in Chinese."""

from __future__ import annotations

import pytest

from bot import texts
from bot.i18n import create_i18n
from engagement.rules import DEFAULT_RULES
from engagement.scoring import LOCAL_RULES
from engagement.sybil import CODES

REASONS = sorted(LOCAL_RULES | {"cooldown", "duplicate", "daily_cap", "diminishing", "message"})
KINDS = ["message", "reply", "reaction", "invite", "grant", "penalty", "app"]


@pytest.mark.parametrize("locale", ["en", "zh"])
def test_every_code_has_its_own_label(locale: str) -> None:
    i18n = create_i18n()
    with i18n.context(), i18n.use_locale(locale):
        for label, codes in (
            (texts.reason_label, REASONS),
            (texts.kind_label, KINDS),
            (texts.flag_label, list(CODES)),
        ):
            shown = [label(code) for code in codes]
            assert len(set(shown)) == len(codes)
            if locale == "zh":
                assert not set(shown) & set(codes), "a code shown untranslated"


def test_chinese_report_lines() -> None:
    i18n = create_i18n()
    with i18n.context(), i18n.use_locale("zh"):
        assert (
            texts.points_header("镇", 2, 40, 1)
            == "<b>镇</b>，第 2 期\n你的积分：<b>40</b>（第 1 名）"
        )
        assert texts.reason_label("cooldown") == "距你上一条计分消息太近"
        assert texts.managers_only() == "只有本群组的管理员才能这样做。"


def test_rules_keys_are_listed_for_managers() -> None:
    i18n = create_i18n()
    with i18n.context(), i18n.use_locale("en"):
        line = texts.rules_line("message.points", str(DEFAULT_RULES.message.points), "d")
    assert line == "<code>message.points</code> = 10: d"
