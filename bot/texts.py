"""Every user-facing text of the bot, in one place, translated through gettext (domain `messages`).

Run `make i18n` after changing a text: it extracts the catalogue and compiles the translations.
"""

from __future__ import annotations

from aiogram.utils.i18n import gettext as _


def start(name: str) -> str:
    return _(
        "Hello, {name}! I am Townsquare, the community bot of your groups.\n"
        "Every point I give has a visible reason, you link your own wallets by signing, "
        "and token claims can be checked by anyone.\n"
        "Send /help to see what I can do."
    ).format(name=name)


def help_text() -> str:
    return _(
        "What I can do:\n"
        "/start - introduction\n"
        "/help - this list\n"
        "In groups I record who takes part, so that points and claims can be explained."
    )


def added_to_group(title: str) -> str:
    return _(
        "Thanks for adding me to {title}! Make me an admin so that I can see reactions, "
        "new members and join requests."
    ).format(title=title)


def group_help() -> str:
    return _("Write to me in a private chat for the full list of commands.")
