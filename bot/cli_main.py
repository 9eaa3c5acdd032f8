"""The `townsquare` Typer app: every command group (`bot.cli.app` runs it)."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Annotated

import typer

from bot.cli_epoch import epoch_app
from bot.cli_ledger import ledger_app
from bot.cli_merkle import merkle_app
from core.settings import Settings

app = typer.Typer(
    help="Townsquare: a self-hosted, non-custodial community engine.", no_args_is_help=True
)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(epoch_app, name="epoch")
app.add_typer(ledger_app, name="ledger")
app.add_typer(merkle_app, name="merkle")


def _logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # One line per update at INFO is too chatty for a busy group.
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)


def _serve(settings: Settings) -> None:
    from bot import prepare
    from bot.startup import paused_gc, serving_gc

    with paused_gc():
        # Migrations, if any, run in a child process, on another core, while this one imports
        # the gateway.
        migrations = prepare.start(settings)
        import uvicorn

        from bot.gateway import create_app

        _logging(settings)
        application = create_app(settings, migrate_sandbox=False)
        prepare.finish(migrations)
    serving_gc()
    config = uvicorn.Config(
        application,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
    )
    typer.echo(f"Townsquare gateway ({settings.mode}) on http://{settings.host}:{settings.port}")
    asyncio.run(uvicorn.Server(config).serve())


@app.command()
def sandbox(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
) -> None:
    """Run the gateway with the local Telegram-style sandbox and web chat."""
    os.environ["TOWNSQUARE_MODE"] = "sandbox"
    settings = Settings(host=host, port=port)
    _serve(settings)


@app.command()
def run() -> None:
    """Run the gateway against Telegram (webhook if TOWNSQUARE_PUBLIC_URL is set, else polling)."""
    settings = Settings()
    if settings.is_sandbox:
        typer.echo(
            "TOWNSQUARE_MODE is 'sandbox'; use `townsquare sandbox`, or set it to production."
        )
        raise typer.Exit(2)
    if settings.public_url:
        _serve(settings)
        return
    asyncio.run(_poll(settings))


async def _poll(settings: Settings) -> None:
    import uvicorn

    from bot.dispatcher import allowed_updates
    from bot.gateway import create_app
    from core.migrate import upgrade

    _logging(settings)
    await asyncio.to_thread(upgrade, settings.effective_database_url)
    application = create_app(settings, register=False)
    gateway = application.state.gateway
    server = uvicorn.Server(
        uvicorn.Config(application, host=settings.host, port=settings.port, log_level="warning")
    )
    await gateway.bot.delete_webhook(drop_pending_updates=False)
    polling = gateway.dp.start_polling(
        gateway.bot,
        allowed_updates=allowed_updates(gateway.dp),
        handle_signals=False,
        close_bot_session=False,
    )
    await asyncio.gather(server.serve(), polling)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    from core.migrate import upgrade

    url = Settings().effective_database_url
    upgrade(url, revision)
    typer.echo(f"database at {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: str) -> None:
    """Revert migrations down to REVISION (`base` removes every table)."""
    from core.migrate import downgrade

    downgrade(Settings().effective_database_url, revision)
    typer.echo(f"database at {revision}")


if __name__ == "__main__":
    app()
