"""`townsquare merkle build` without the CLI framework: the build itself and a lean argv parser.

This command is run as a whole process on large files, so its start-up time counts: this
module imports only the standard library at load, the wallet code when it builds, and rich only
when a progress bar is shown. `fast_main` parses the plain forms of the command line; anything
else (help, a typo, a missing option) returns None and is left to the Typer command, which
gives the usual messages.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHAINS = ("evm", "solana")


class BuildError(Exception):
    """A bad input file or an unwritable output; the message is shown after `error: `."""


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


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Pauses the cyclic garbage collector.

    A build allocates hundreds of thousands of objects and makes no reference cycles, so the
    collections that the allocations trigger only walk live objects again and again.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def build(
    allocations: Path,
    out: Path,
    claims: Path | None = None,
    chain: str = "evm",
    progress: bool | None = None,
) -> str:
    """Builds the tree of the ALLOCATIONS file, writes its dump (and claims file).

    Args:
        allocations: CSV rows `index,address,amount` or `address,amount`.
        out: Where to write the `standard-v1` dump.
        claims: Where to write the Uniswap-shaped claims file, if anywhere.
        chain: `evm` or `solana` leaves.
        progress: Progress bars on stderr; None shows them when stderr is a terminal.

    Returns:
        The root, `0x` hex.

    Raises:
        BuildError: A bad row (named by its line), or a file that cannot be read or written.
    """
    from wallet.merkle_claims import quoted_nodes, write_claims, write_dump
    from wallet.merkle_csv import CsvError, build_tree, read_allocations

    show = sys.stderr.isatty() if progress is None else progress
    with _no_cycle_collection(), _Bar(show) as bar:
        reading = bar.stage("reading", 1)
        try:
            rows = read_allocations(allocations, chain="solana" if chain == "solana" else "evm")
        except CsvError as exc:
            raise BuildError(f"{allocations}: {exc}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise BuildError(f"cannot read {allocations}: {exc}") from None
        reading(1)
        count = len(rows.indexes)
        tree = build_tree(rows, progress=bar.stage("hashing", 2 * count - 1))
        writing = bar.stage("writing", count * (2 if claims else 1))
        nodes = quoted_nodes(tree.nodes)
        try:
            with out.open("wb") as fp:
                write_dump(tree, fp, writing, nodes)
            if claims is not None:
                with claims.open("wb") as fp:
                    write_claims(tree, rows, fp, writing, nodes)
        except OSError as exc:
            raise BuildError(f"cannot write {exc.filename or out}: {exc.strerror}") from None
    return tree.root


@dataclass(frozen=True)
class BuildArgs:
    """The arguments of one `merkle build` command line."""

    allocations: Path
    out: Path
    claims: Path | None = None
    chain: str = "evm"
    progress: bool | None = None


_FLAGS = {"--progress": True, "--no-progress": False}
_VALUED = ("--out", "--claims", "--chain")


def parse_build(argv: Sequence[str]) -> BuildArgs | None:
    """The arguments after `merkle build`, or None when they are not plainly valid.

    Accepts one positional file, `--out F` (required), `--claims F`, `--chain evm|solana`
    (also as `--opt=value`) and `--progress/--no-progress`; `--` ends the options.
    """
    values: dict[str, str] = {}
    positional: list[str] = []
    progress: bool | None = None
    items, options = iter(argv), True
    for item in items:
        if options and item == "--":
            options = False
        elif options and item in _FLAGS:
            progress = _FLAGS[item]
        elif options and item.startswith("-"):
            name, eq, value = item.partition("=")
            if name not in _VALUED or name in values:
                return None
            if not eq:
                value = next(items, "")
            if not value:
                return None
            values[name] = value
        else:
            positional.append(item)
    chain = values.get("--chain", "evm")
    if len(positional) != 1 or "--out" not in values or chain not in CHAINS:
        return None
    claims = values.get("--claims")
    return BuildArgs(
        allocations=Path(positional[0]),
        out=Path(values["--out"]),
        claims=Path(claims) if claims else None,
        chain=chain,
        progress=progress,
    )


def fast_main(argv: Sequence[str]) -> int | None:
    """Runs `merkle build` from the arguments after it; None when the Typer command should.

    Returns:
        The exit status: 0, or 2 after printing `error: ...` on stderr.
    """
    args = parse_build(argv)
    if args is None or args.allocations.is_dir():
        return None
    try:
        root = build(args.allocations, args.out, args.claims, args.chain, args.progress)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(root)
    return 0
