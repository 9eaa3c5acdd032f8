"""`townsquare merkle build`: an OpenZeppelin `standard-v1` dump and a claims file from a CSV.

The build itself is `bot.merkle_build`, which `townsquare` also runs directly, without this
Typer app, for plain command lines (start-up time counts for this command).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from bot import merkle_build

merkle_app = typer.Typer(
    help="Merkle trees of token claims, byte-compatible with OpenZeppelin's StandardMerkleTree.",
    no_args_is_help=True,
)


class Chain(StrEnum):
    """Which leaf schema to build."""

    evm = "evm"
    solana = "solana"


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
    try:
        root = merkle_build.build(allocations, out, claims, chain.value, progress)
    except merkle_build.BuildError as exc:
        raise _fail(str(exc)) from None
    typer.echo(root)


if __name__ == "__main__":
    merkle_app(prog_name="townsquare merkle")
