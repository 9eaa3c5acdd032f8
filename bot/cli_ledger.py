"""`townsquare ledger ...`: the points ledger for anyone to check.

`export` lists every entry of an epoch with its cause (CSV or JSON lines); `rules` prints the
rule versions in force during the epoch; `check` recomputes every score from the ledger and
compares it with the score cache. The database is the one the gateway uses (`TOWNSQUARE_*`).
"""

from __future__ import annotations

import asyncio
import csv
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TextIO, TypeVar

import typer
from sqlmodel.ext.asyncio.session import AsyncSession

ledger_app = typer.Typer(
    help="The points ledger: export, rules in force, checks.", no_args_is_help=True
)
T = TypeVar("T")

ChatOption = Annotated[int, typer.Option("--chat", help="The group's chat id.")]
EpochOption = Annotated[int, typer.Option("--epoch", help="The epoch's number in that group.")]


class Format(StrEnum):
    csv = "csv"
    jsonl = "jsonl"


def _run(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    from core.db import create_engine, session_factory
    from core.settings import Settings

    async def main() -> T:
        engine = create_engine(Settings().effective_database_url)
        try:
            async with session_factory(engine)() as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(main())


async def _epoch(session: AsyncSession, chat: int, number: int) -> Any:
    from engagement import epochs

    epoch = await epochs.by_number(session=session, chat_id=chat, number=number)
    if epoch is None:
        typer.echo(f"group {chat} has no epoch {number}", err=True)
        raise typer.Exit(1)
    return epoch


@asynccontextmanager
async def _output(out: Path | None) -> AsyncIterator[TextIO]:
    if out is None:
        yield sys.stdout
        return
    with out.open("w", encoding="utf-8", newline="") as handle:
        yield handle


@ledger_app.command("export")
def export(
    chat: ChatOption,
    epoch: EpochOption,
    fmt: Annotated[Format, typer.Option("--format", help="csv or jsonl.")] = Format.csv,
    out: Annotated[
        Path | None, typer.Option("--out", help="File to write (default: stdout).")
    ] = None,
) -> None:
    """Every entry of an epoch, in write order, with its cause."""
    from engagement import ledger

    async def work(session: AsyncSession) -> int:
        found = await _epoch(session, chat, epoch)
        count = 0
        async with _output(out) as handle:
            writer = csv.DictWriter(handle, fieldnames=ledger.EXPORT_COLUMNS)
            if fmt is Format.csv:
                writer.writeheader()
            async for row in ledger.export(session=session, chat_id=chat, epoch=found):
                if fmt is Format.csv:
                    writer.writerow(row)
                else:
                    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
                count += 1
        return count

    count = _run(work)
    if out is not None:
        typer.echo(f"{count} entries written to {out}", err=True)


@ledger_app.command("rules")
def rules_in_force(chat: ChatOption, epoch: EpochOption) -> None:
    """The rule versions in force during an epoch, as JSON (frozen once the epoch closed)."""
    from engagement import epochs

    async def work(session: AsyncSession) -> Any:
        found = await _epoch(session, chat, epoch)
        if found.rules is not None:
            return found.rules
        return await epochs.rules_in_force(
            session=session, chat_id=chat, starts_at=found.starts_at, ends_at=found.ends_at
        )

    typer.echo(json.dumps(_run(work), indent=2, ensure_ascii=False, default=str))


@ledger_app.command("check")
def check(chat: ChatOption, epoch: EpochOption) -> None:
    """Recomputes every member's score, and points per rule, from the ledger and compares them
    with the score cache and the running totals."""
    from engagement import ledger

    async def work(session: AsyncSession) -> tuple[dict[int, int], dict[int, int], Any, Any]:
        found = await _epoch(session, chat, epoch)
        return (
            await ledger.sums(session=session, epoch_id=found.id),
            await ledger.cached(session=session, epoch_id=found.id),
            await ledger.rule_sums(session=session, epoch_id=found.id),
            await ledger.rule_totals(session=session, epoch_id=found.id),
        )

    summed, cached, by_rule, totals = _run(work)
    members = set(summed) | set(cached)
    wrong = sorted(m for m in members if summed.get(m, 0) != cached.get(m, 0))
    for member in wrong:
        typer.echo(
            f"member {member}: ledger {summed.get(member, 0)}, cache {cached.get(member, 0)}"
        )
    drifted = sorted(k for k in set(by_rule) | set(totals) if by_rule.get(k) != totals.get(k))
    for member, kind, rule in drifted:
        points, entries = by_rule.get((member, kind, rule), (0, 0))
        kept = totals.get((member, kind, rule), (0, 0))
        typer.echo(
            f"member {member} {kind}/{rule}: ledger {points} points in {entries} entries,"
            f" totals {kept[0]} points in {kept[1]} entries"
        )
    if wrong or drifted:
        raise typer.Exit(1)
    typer.echo(f"ok: {len(members)} members, {sum(summed.values())} points")
