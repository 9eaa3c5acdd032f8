"""The bot's texts ship in English and Chinese, with compiled catalogues that match the sources."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiogram.utils.i18n import I18n
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from bot import texts
from bot.i18n import LOCALES, create_i18n, pick_locale


def catalogue(locale: str) -> Path:
    return LOCALES / locale / "LC_MESSAGES" / "messages.po"


def test_chinese_translates_every_text() -> None:
    with catalogue("zh").open("rb") as f:
        po = read_po(f)
    with (LOCALES / "messages.pot").open("rb") as f:
        template = read_po(f)
    ids = {m.id for m in template if m.id}
    assert ids
    translated = {m.id for m in po if m.id and m.string}
    assert ids <= translated


@pytest.mark.parametrize("locale", ["en", "zh"])
def test_compiled_catalogue_matches_source(locale: str) -> None:
    with catalogue(locale).open("rb") as f:
        po = read_po(f)
    with catalogue(locale).with_suffix(".mo").open("rb") as f:
        mo = read_mo(f)
    source = {m.id: m.string for m in po if m.id and m.string}
    compiled = {m.id: m.string for m in mo if m.id}
    assert compiled == source, "run `make i18n` to recompile the catalogues"


@pytest.mark.parametrize(("locale", "expected"), [("en", "Hello, Ann!"), ("zh", "你好，Ann！")])
def test_texts_follow_the_locale(locale: str, expected: str) -> None:
    i18n: I18n = create_i18n()
    with i18n.context(), i18n.use_locale(locale):
        assert texts.start("Ann").startswith(expected)
        assert "/help" in texts.help_text()


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("zh-hans", "zh"),
        ("zh-hant", "zh"),
        ("zh", "zh"),
        ("en-us", "en"),
        ("en", "en"),
        ("pt-br", "en"),
        (None, "en"),
        ("", "en"),
        ("not a code!", "en"),
    ],
)
def test_telegram_language_codes_pick_a_catalogue(code: str | None, expected: str) -> None:
    assert pick_locale(code, ("en", "zh"), "en") == expected
