"""Serves the gateway for a benchmark: `python -m benchmarks.serve_gateway URL PORT full|noop DIR`.

The gateway runs as in production (no sandbox: its delivery loop would share the CPU being
measured) with a made-up bot token; nothing calls the Bot API for plain group messages.
DIR is its own data folder (the caller removes it: uvicorn ends the process on SIGTERM).
"""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn
from aiogram import Router
from aiogram.types import Message

from benchmarks.load import SECRET
from bot.gateway import create_app
from bot.inline_filters import group_chatter
from bot.startup import paused_gc, serving_gc
from core.migrate import upgrade
from core.settings import Settings

BOT_TOKEN = "4242424242:bench-token-never-sent-to-telegram"


def noop_handlers(dp: Router) -> None:
    """A handler that does nothing, where the bot's own handler of group chatter is: on the
    dispatcher itself, behind the same filter (see `bot.handlers.group.install_chatter`)."""

    async def ignore(message: Message) -> None:
        return None

    dp.message.register(ignore, group_chatter)


def main(url: str, port: int, handler: str, data_dir: Path) -> None:
    settings = Settings(
        mode="production",
        bot_token=BOT_TOKEN,
        database_url=url,
        port=port,
        webhook_secret=SECRET,
        data_dir=data_dir,
        log_level="WARNING",
    )
    # As `townsquare run` does: what start-up builds is never scanned by the collector again.
    with paused_gc():
        upgrade(settings.effective_database_url)
        handlers = noop_handlers if handler == "noop" else None
        app = create_app(settings, register=False, handlers=handlers)
    serving_gc()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )
    # `Server.run` installs the configured loop (uvloop); `asyncio.run` would not.
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], Path(sys.argv[4]))
