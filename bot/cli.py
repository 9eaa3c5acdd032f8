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
        from bot.startup import (
            import_aiohttp_aside,
            import_fastapi_deferred,
            paused_gc,
            skip_httpx_cli,
        )

        serving = argv[:1] in (["sandbox"], ["run"])
        if serving:
            skip_httpx_cli()
            import_aiohttp_aside()
        with paused_gc():
            if serving:
                import_fastapi_deferred()
            typer_app = self._typer()
        return typer_app(args, **extra)

    def __getattr__(self, name: str) -> Any:
        # Typer's CliRunner reads the app's registered commands and groups.
        return getattr(self._typer(), name)

    @staticmethod
    def _typer() -> Any:
        from bot.cli_main import app as typer_app

        return typer_app


app = _Townsquare()

if __name__ == "__main__":
    app()
