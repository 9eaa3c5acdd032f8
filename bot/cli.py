"""The `townsquare` command line (the console script's `bot.cli:app`).

`app` is a small callable, not the Typer app itself: `townsquare merkle build` is run on large
files as a whole process, and importing Typer (with click and rich) takes longer than the build
of 50,000 rows. So plain `merkle build` command lines go straight to `bot.merkle_build`; every
other command line, and `--help`, goes to the Typer app in `bot.cli_main`, imported only then.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any


class _Townsquare:
    """Runs like a Typer app (`app()`, `app(args)`), and is one for Typer's test runner."""

    def __call__(self, args: Sequence[str] | None = None, **extra: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        if argv[:2] == ["merkle", "build"] and not extra:
            from bot.merkle_build import fast_main

            code = fast_main(argv[2:])
            if code is not None:
                sys.stdout.flush()
                raise SystemExit(code)
        return self._typer()(args, **extra)

    def __getattr__(self, name: str) -> Any:
        # Typer's CliRunner reads the app's registered commands and groups.
        return getattr(self._typer(), name)

    @staticmethod
    def _typer() -> Any:
        from bot.cli_main import app as typer_app

        return typer_app


app = _Townsquare()


def _serve(settings: Settings) -> None:
    from bot import prepare

    # Migrations run in a child process, on another core, while this one imports the gateway.
    migrations = prepare.start(settings)
    import uvicorn

    from bot.gateway import create_app

    _logging(settings)
    application = create_app(settings, migrate_sandbox=False)
    prepare.finish(migrations)
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
