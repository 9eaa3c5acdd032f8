"""All routers of the bot, assembled in one place.

Each module builds a fresh router per call, so that several dispatchers (tests, benchmarks)
can live in one process. Order matters: group messages that are no command go straight to
`group`'s chatter handler, on the dispatcher itself (`install`); `wallets` answers its deep links
(`/start link_...`) before `private` answers every other `/start`; the command routers come
before `group`, whose catch-all records and scores the group commands nobody answered.
"""

from __future__ import annotations

from aiogram import Router

from bot.handlers import (
    apps,
    dashboard,
    engagement,
    epochs,
    group,
    manage,
    private,
    schedule,
    wallets,
)
from bot.inline_filters import command_like


def build_routers() -> list[Router]:
    """The dispatcher's routers, in order. They sit directly under the dispatcher: every level
    of nesting costs each update another round of aiogram's propagation."""
    # Of messages, the routers before `group` answer only commands: one check in front of all
    # of them lets every other group message go straight to `group`.
    commands = Router(name="commands")
    commands.message.filter(command_like)
    commands.include_routers(
        wallets.create_router(),
        apps.create_router(),
        dashboard.create_router(),
        private.create_router(),
        engagement.create_router(),
        manage.create_router(),
        epochs.create_router(),
        schedule.create_router(),
    )
    return [commands, group.create_router()]


def install(dp: Router) -> None:
    """The bot's handlers on the dispatcher `dp`: the chatter handler on `dp` itself, ahead of
    the routers (`group.install_chatter`), then the routers."""
    group.install_chatter(dp)
    dp.include_routers(*build_routers())
