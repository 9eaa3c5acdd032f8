"""The composition root: one FastAPI app that carries the bot's webhook, the web pages and,
in sandbox mode, the local Telegram-style Bot API with its web chat."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiogram import Bot, Dispatcher, Router
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import deferred_types, upkeep
from bot.dispatcher import allowed_updates, create_bot, create_dispatcher
from bot.handlers.manage import review_notifier
from bot.handlers.wallets import link_notifier
from bot.routes import add_routes
from bot.sandbox.chains import start_chains
from bot.webhook import WebhookApp, mount_webhook
from core.db import create_engine, session_factory
from core.settings import Settings, get_settings
from core.sqlite_checkpoint import FALLBACK_PAGES, Checkpointer, database_path
from miniapps.api import create_api_router
from miniapps.app_launch import create_launch_router
from miniapps.claims import create_claims_router
from miniapps.consent import create_consent_router
from miniapps.dashboard import create_dashboard_router
from miniapps.dashboard_export import create_export_router
from miniapps.dashboard_settle import create_settle_router
from miniapps.deps import create_session_router
from miniapps.errors import install_error_handlers
from miniapps.funding import create_funding_router
from miniapps.member import create_member_router
from miniapps.member_claims import create_member_claims_router
from miniapps.sdk import create_sdk_router, install_session_cors
from miniapps.v1 import create_builder_router
from miniapps.wallet_link import create_wallet_link_router

if TYPE_CHECKING:  # Redis is imported only by gateways that are given one
    from redis.asyncio import Redis

log = logging.getLogger(__name__)


@dataclass
class Gateway:
    """Everything the running gateway holds, reachable as `app.state.gateway`."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    bot: Bot
    dp: Dispatcher
    redis: Redis | None = None
    sandbox: Any = None
    sandbox_engine: AsyncEngine | None = None
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    chains: Any = None  # the sandbox's demo chains (bot.sandbox.chains), when running
    # Checkpoints a SQLite database off the writers' commits (`core.sqlite_checkpoint`).
    checkpointer: Checkpointer | None = None

    # True from start-up until the Bot API has our webhook: until then no update reaches us.
    awaiting_webhook: bool = False


async def wait_until_serving(host: str, port: int, *, timeout: float = 30.0) -> None:
    """Waits until the gateway's own HTTP server accepts connections.

    A bare TCP connection: an HTTP client would first build a TLS context that it never uses
    here, and that costs start-up time.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            if loop.time() > deadline:
                msg = f"gateway at {host}:{port} did not come up within {timeout}s"
                raise TimeoutError(msg) from None
            await asyncio.sleep(0.02)
            continue
        writer.close()
        await writer.wait_closed()
        return


async def register_webhook(gateway: Gateway) -> None:
    """Points the Bot API at our webhook once our HTTP server is up (the sandbox or Telegram),
    trying again until it succeeds; `/healthz` answers 503 until then."""
    settings = gateway.settings
    await wait_until_serving(settings.host, settings.port)
    delay = 0.5
    while True:
        try:
            await gateway.bot.set_webhook(
                url=f"{settings.base_url}/telegram/webhook",
                secret_token=settings.webhook_secret.get_secret_value(),
                allowed_updates=allowed_updates(gateway.dp),
                max_connections=settings.webhook_max_connections,
            )
            break
        except Exception as exc:
            log.warning("webhook registration failed, trying again in %.1fs: %s", delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
    gateway.awaiting_webhook = False
    log.info("webhook registered at %s/telegram/webhook", settings.base_url)


def build_gateway(
    settings: Settings, *, handlers: Callable[[Router], None] | None = None
) -> Gateway:
    path = database_path(settings.effective_database_url)
    engine = create_engine(
        settings.effective_database_url,
        busy_timeout_ms=settings.sqlite_busy_timeout_ms,
        wal_autocheckpoint=None if path is None else FALLBACK_PAGES,
    )
    redis = None
    if settings.redis_url:
        from redis.asyncio import Redis

        redis = Redis.from_url(settings.redis_url)
    sessions = session_factory(engine)
    return Gateway(
        settings=settings,
        engine=engine,
        sessions=sessions,
        bot=create_bot(settings),
        dp=create_dispatcher(settings=settings, sessions=sessions, redis=redis, handlers=handlers),
        redis=redis,
        checkpointer=None if path is None else Checkpointer(path),
    )


def create_app(
    settings: Settings | None = None,
    *,
    register: bool = True,
    handlers: Callable[[Router], None] | None = None,
    migrate_sandbox: bool = True,
) -> FastAPI:
    """The gateway app. `register=False` leaves the webhook registration to the caller;
    `handlers` replaces the bot's own (see `bot.dispatcher.create_dispatcher`);
    `migrate_sandbox=False` says the sandbox's database is migrated already (`bot.prepare`).
    """
    settings = settings or get_settings()
    gateway = build_gateway(settings, handlers=handlers)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Before the first request: the first update then costs what every other one does.
        deferred_types.warm()
        if gateway.sandbox_engine is not None and migrate_sandbox:
            from core.migrate import upgrade  # Alembic: only when there is work for it

            await asyncio.to_thread(upgrade, str(gateway.sandbox_engine.url))
        if gateway.sandbox is not None:
            await gateway.sandbox.ensure_bot(settings.bot_token.get_secret_value())
            await gateway.sandbox.start()
        registration = None
        if register and (settings.public_url or settings.is_sandbox):
            gateway.awaiting_webhook = True
            registration = asyncio.create_task(register_webhook(gateway))
            gateway.tasks.append(registration)
        if gateway.sandbox is not None:
            start_chains(gateway, after=registration)
        gateway.tasks.append(upkeep.start(gateway))
        with gateway.checkpointer or nullcontext():
            try:
                yield
            finally:
                for task in gateway.tasks:
                    task.cancel()
                if gateway.sandbox is not None:
                    await gateway.sandbox.stop()
                await gateway.bot.session.close()
                if gateway.redis is not None:
                    await gateway.redis.aclose()
                await gateway.engine.dispose()
                if gateway.sandbox_engine is not None:
                    await gateway.sandbox_engine.dispose()

    app = WebhookApp(title="Townsquare gateway", version="0.1.0", lifespan=lifespan)
    app.state.gateway = gateway
    install_error_handlers(app)
    install_session_cors(app)

    @app.get("/healthz", tags=["ops"], summary="Liveness and database check")
    async def healthz() -> JSONResponse:
        if gateway.awaiting_webhook:
            body = {"status": "starting", "webhook": "not registered yet"}
            return JSONResponse(body, 503, headers={"Retry-After": "1"})
        try:
            async with gateway.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:
            log.warning("health check: database unavailable: %s", exc)
            return JSONResponse({"status": "degraded", "database": "unavailable"}, 503)
        return JSONResponse({"status": "ok", "mode": settings.mode})

    mount_webhook(
        app,
        dp=gateway.dp,
        bot=gateway.bot,
        secret=settings.webhook_secret.get_secret_value(),
        max_body=settings.webhook_max_body,
    )
    include_pages(app, settings)
    if settings.is_sandbox:
        mount_sandbox_on(app, gateway)
    return app


def include_pages(app: FastAPI, settings: Settings) -> None:
    """The web pages and APIs: wallet linking, Mini Apps, the builder API, claims."""
    add_routes(app, create_wallet_link_router(notify=link_notifier(settings.default_locale)))
    add_routes(app, create_session_router())
    add_routes(app, create_api_router())
    # Before the members' pages: their `/miniapp/{page}` would take `/miniapp/dashboard`.
    settle = create_settle_router(notify=review_notifier(settings.default_locale))
    for dashboard in (create_dashboard_router(), settle, create_export_router()):
        add_routes(app, dashboard)
    for router in (
        create_builder_router(),
        create_consent_router(),
        create_sdk_router(),
        create_launch_router(),
        create_member_router(),
        create_member_claims_router(),
        create_claims_router(),
        create_funding_router(),
    ):
        add_routes(app, router)


def mount_sandbox_on(app: FastAPI, gateway: Gateway) -> None:
    """Adds the sandbox. On SQLite it keeps its own file: one SQLite file has a single writer,
    and a handler that calls the Bot API inside its transaction would wait on itself."""
    from bot.sandbox.app import mount_sandbox, sandbox_database_url
    from bot.sandbox.miniapp import create_webapp_router

    settings = gateway.settings
    url = sandbox_database_url(settings)
    sessions = gateway.sessions
    if url != settings.effective_database_url:
        gateway.sandbox_engine = create_engine(url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
        sessions = session_factory(gateway.sandbox_engine)
    gateway.sandbox = mount_sandbox(app, sessions=sessions, settings=settings)
    add_routes(app, create_webapp_router(gateway.sandbox))
