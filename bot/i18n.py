"""The bot's translations: English and Chinese ship; the member's Telegram language picks one."""

from __future__ import annotations

from pathlib import Path

from aiogram.utils.i18n import I18n

LOCALES = Path(__file__).parent / "locales"


def create_i18n(default_locale: str = "en") -> I18n:
    return I18n(path=LOCALES, default_locale=default_locale, domain="messages")
