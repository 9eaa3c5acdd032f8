"""Alembic environment: async engines for SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import core.models
import core.models_builder  # noqa: F401  (registers the builder grants tables)
import core.models_claims  # noqa: F401  (registers the claims tables)
import core.models_engagement  # noqa: F401  (registers the engagement tables)
import core.models_miniapps  # noqa: F401  (registers the builder platform tables)
import core.models_sandbox  # noqa: F401  (registers the sandbox tables)
import core.models_upkeep  # noqa: F401  (registers the pending deletions and flag notices)
import core.models_wallet  # noqa: F401  (registers the wallet-linking tables)
from core.db import create_engine

target_metadata = SQLModel.metadata
del core


def run_sync(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async() -> None:
    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    async with engine.connect() as connection:
        await connection.run_sync(run_sync)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(run_async())
