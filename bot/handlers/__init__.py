"""All routers of the bot, assembled in one place.

Each module builds a fresh router per call, so that several dispatchers (tests, benchmarks)
can live in one process. Order matters: `wallets` answers its deep links (`/start link_...`)
before `private` answers every other `/start`, and the command routers come before `group`,
whose catch-all records and scores every other group message.
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


def build_router() -> Router:
    root = Router(name="townsquare")
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
    root.include_routers(commands, group.create_router())
    return root
