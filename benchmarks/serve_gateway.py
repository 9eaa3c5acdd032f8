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
from aiogram.types import Update

from benchmarks.load import SECRET
from bot.gateway import create_app
from bot.startup import paused_gc, serving_gc
from core.migrate import upgrade
from core.settings import Settings

BOT_TOKEN = "4242424242:bench-token-never-sent-to-telegram"


def noop_router() -> Router:
    router = Router(name="noop")

    @router.message()
    async def ignore(message: Update) -> None:
        return None

    return router


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
        router = noop_router() if handler == "noop" else None
        app = create_app(settings, register=False, router=router)
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
