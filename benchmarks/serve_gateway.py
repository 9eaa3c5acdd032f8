"""Serves the gateway for a benchmark: `python -m benchmarks.serve_gateway URL PORT full|noop`."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import uvicorn
from aiogram import Router
from aiogram.types import Update

from bot.gateway import create_app
from core.migrate import upgrade
from core.settings import Settings

SECRET = "bench-secret"


def noop_router() -> Router:
    router = Router(name="noop")

    @router.message()
    async def ignore(message: Update) -> None:
        return None

    return router


def main(url: str, port: int, handler: str) -> None:
    settings = Settings(
        mode="sandbox",
        database_url=url,
        port=port,
        webhook_secret=SECRET,
        data_dir=Path(tempfile.gettempdir()),
        log_level="WARNING",
    )
    upgrade(settings.effective_database_url)
    app = create_app(settings, register=False, router=noop_router() if handler == "noop" else None)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )
    asyncio.run(uvicorn.Server(config).serve())


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
