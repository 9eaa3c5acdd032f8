"""`townsquare merkle build`: an OpenZeppelin `standard-v1` dump and a claims file from a CSV.

Start-up time counts for this command (it is benchmarked as a whole process), so the wallet code
is imported inside the command, and rich only when a progress bar is shown.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

merkle_app = typer.Typer(
    help="Merkle trees of token claims, byte-compatible with OpenZeppelin's StandardMerkleTree.",
    no_args_is_help=True,
)


class Chain(StrEnum):
    """Which leaf schema to build."""

    evm = "evm"
    solana = "solana"


class _Bar:
    """Stage progress on stderr: rich bars when shown, nothing otherwise.

    Bars are redrawn on each advance rather than by rich's refresh thread, so the process keeps
    a single thread and the hashing may fork a helper onto a second CPU.
    """

    def __init__(self, show: bool) -> None:
        self._rich: Any = None
        if show:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._rich = Progress(
                TextColumn("{task.description:<8}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                auto_refresh=False,
            )

    def __enter__(self) -> _Bar:
        if self._rich is not None:
            self._rich.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._rich is not None:
            self._rich.refresh()
            self._rich.stop()

    def stage(self, name: str, total: int) -> Callable[[int], None]:
        """Starts a stage; returns the function that advances it."""
        if self._rich is None:
            return lambda done: None
        task = self._rich.add_task(name, total=total)

        def advance(done: int) -> None:
            self._rich.advance(task, done)
            self._rich.refresh()

        return advance


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


@merkle_app.callback()
def _merkle() -> None:
    """Merkle trees of token claims, byte-compatible with OpenZeppelin's StandardMerkleTree."""


@merkle_app.command()
def build(
    allocations: Annotated[
        Path,
        typer.Argument(help="CSV rows index,address,amount or address,amount.", dir_okay=False),
    ],
    out: Annotated[Path, typer.Option("--out", help="Where to write the standard-v1 dump.")],
    claims: Annotated[
        Path | None, typer.Option("--claims", help="Also write a Uniswap-shaped claims file.")
    ] = None,
    chain: Annotated[Chain, typer.Option("--chain", help="Leaf schema.")] = Chain.evm,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress",
            help="Progress bars on stderr (default: when stderr is a terminal).",
        ),
    ] = None,
) -> None:
    """Build the tree of ALLOCATIONS, write its dump (and claims), and print the root."""
    from wallet.merkle_claims import quoted_nodes, write_claims, write_dump
    from wallet.merkle_csv import CsvError, build_tree, read_allocations

    with _Bar(sys.stderr.isatty() if progress is None else progress) as bar:
        reading = bar.stage("reading", 1)
        try:
            rows = read_allocations(allocations, chain=chain.value)
        except CsvError as exc:
            raise _fail(f"{allocations}: {exc}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise _fail(f"cannot read {allocations}: {exc}") from None
        reading(1)
        count = len(rows.indexes)
        tree = build_tree(rows, progress=bar.stage("hashing", 2 * count - 1))
        writing = bar.stage("writing", count * (2 if claims else 1))
        nodes = quoted_nodes(tree.nodes)
        with out.open("wb") as fp:
            write_dump(tree, fp, writing, nodes)
        if claims is not None:
            with claims.open("wb") as fp:
                write_claims(tree, rows, fp, writing, nodes)
    typer.echo(tree.root)


if __name__ == "__main__":
    merkle_app(prog_name="townsquare merkle")
