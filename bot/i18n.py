"""The bot's translations: English and Chinese ship; the member's Telegram language picks one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiogram.types import TelegramObject, User
from aiogram.utils.i18n import I18n, SimpleI18nMiddleware
from babel import Locale, UnknownLocaleError

LOCALES = Path(__file__).parent / "locales"


def create_i18n(default_locale: str = "en") -> I18n:
    return I18n(path=LOCALES, default_locale=default_locale, domain="messages")


def pick_locale(language_code: str | None, available: tuple[str, ...], default: str) -> str:
    """The most specific shipped locale for a Telegram language code such as `zh-hans`."""
    if not language_code:
        return default
    try:
        locale = Locale.parse(language_code, sep="-")
    except (UnknownLocaleError, ValueError):
        return default
    for candidate in (str(locale), f"{locale.language}_{locale.territory}", locale.language):
        if candidate in available:
            return candidate
    return default


class LanguageMiddleware(SimpleI18nMiddleware):
    """Like aiogram's, but a script or region the catalogue lacks falls back to the language."""

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        user: User | None = data.get("event_from_user")
        return pick_locale(
            user.language_code if user else None,
            self.i18n.available_locales,
            self.i18n.default_locale,
        )
