"""A gateway on a SQLite file checkpoints its log on a thread of its own while it runs."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from bot.gateway import create_app
from core.migrate import upgrade
from core.settings import Settings
from core.sqlite_checkpoint import FALLBACK_PAGES, database_path

TOKEN = "4242424242:test-token-never-sent-to-telegram"


async def test_the_gateway_checkpoints_while_it_runs(tmp_path: Path, database_url: str) -> None:
    await asyncio.to_thread(upgrade, database_url)
    settings = Settings(
        mode="production",
        bot_token=TOKEN,
        database_url=database_url,
        data_dir=tmp_path,
        webhook_secret="checkpoint-test-secret",
    )
    app = create_app(settings, register=False)
    gateway = app.state.gateway
    if "sqlite" not in database_url:
        assert gateway.checkpointer is None
        await gateway.engine.dispose()
        return
    checkpointer = gateway.checkpointer
    assert checkpointer is not None
    assert checkpointer.path == database_path(database_url)
    async with app.router.lifespan_context(app):
        assert checkpointer.running
        async with gateway.engine.connect() as conn:
            pages = (await conn.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one()
        assert pages == FALLBACK_PAGES
        for _ in range(200):
            if checkpointer.rounds:
                break
            await asyncio.sleep(0.02)
        assert checkpointer.rounds > 0
    assert not checkpointer.running
