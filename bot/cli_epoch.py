"""`townsquare epoch close|publish|verify`: settle an epoch's points into token claims.

`close` freezes the epoch and computes its allocation and claim trees in one transaction;
`publish` makes the artefacts public (after the EVM distributor is funded or the Solana
allowance is granted); `verify` recomputes the roots from the published ledger and rules.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from sqlmodel.ext.asyncio.session import AsyncSession

epoch_app = typer.Typer(help="Settle epochs into token claims.", no_args_is_help=True)
T = TypeVar("T")

ChatOption = Annotated[int, typer.Option("--chat", help="The group's chat id.")]
EpochOption = Annotated[int, typer.Option("--epoch", help="The epoch's number in that group.")]
STEPS = ("ledger", "allocation", "store", "commit")


def _run(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    from core.db import create_engine, session_factory, transaction
    from core.settings import Settings
    from engagement.settlement import SettlementError

    async def main() -> T:
        engine = create_engine(Settings().effective_database_url)
        try:
            async with transaction(session_factory(engine)) as session:
                return await work(session)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except SettlementError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


@epoch_app.command("close")
def close(
    *,
    chat: ChatOption,
    epoch: EpochOption,
    pool: Annotated[int, typer.Option("--pool", help="Base units to split (integer).")],
    min_score: Annotated[int, typer.Option("--min-score", help="Least score that counts.")] = 0,
    cap_share: Annotated[
        str | None, typer.Option("--cap-share", help="Largest share per member, e.g. 0.05.")
    ] = None,
    transform: Annotated[str, typer.Option("--transform", help="linear or sqrt.")] = "linear",
    prefer: Annotated[str, typer.Option("--prefer", help="Chain paying dual members.")] = "evm",
) -> None:
    """Close the epoch (if open) and freeze its allocation, trees and artefacts."""
    # rich's progress bars only here: importing them cost every start of the gateway 30 ms.
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from core.settings import Settings
    from engagement import settle_service
    from engagement.settlement import AllocationParams

    if transform not in ("linear", "sqrt") or prefer not in ("evm", "solana"):
        typer.echo("error: --transform is linear or sqrt; --prefer is evm or solana", err=True)
        raise typer.Exit(2)
    params = AllocationParams(pool, min_score, cap_share, transform)  # type: ignore[arg-type]
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn()) as bar:
        task = bar.add_task("closing", total=len(STEPS))

        def step(name: str) -> None:
            bar.update(task, description=name, advance=1)

        record, result = _run(
            lambda session: settle_service.close(
                session=session,
                chat_id=chat,
                number=epoch,
                params=params,
                prefer=prefer,  # type: ignore[arg-type]
                step=step,
                files=Settings().data_dir,
            )
        )
        step("commit")
    typer.echo(f"epoch {epoch} closed: {len(result.amounts)} members share {pool}")
    typer.echo(f"evm root:    {record.evm_root or '-'}")
    typer.echo(f"solana root: {record.solana_root or '-'}")
    typer.echo(f"held back for {len(result.unlinked)} members without a wallet: {record.held_back}")
    typer.echo(f"ledger:      {record.ledger_digest}")


@epoch_app.command("publish")
def publish(
    *,
    chat: ChatOption,
    epoch: EpochOption,
    distributor: Annotated[str | None, typer.Option(help="EVM distributor address.")] = None,
    chain_id: Annotated[str | None, typer.Option("--chain-id", help="EVM chain id.")] = None,
    treasury: Annotated[str | None, typer.Option(help="Solana treasury token account.")] = None,
    mint: Annotated[str | None, typer.Option(help="Solana mint.")] = None,
    allowance: Annotated[
        int | None, typer.Option(help="Delegated Solana allowance (base units).")
    ] = None,
) -> None:
    """Publish a closed epoch: its dump, claims, rules and ledger are served from now on."""
    from engagement import settle_service

    record = _run(
        lambda session: settle_service.publish(
            session=session,
            chat_id=chat,
            number=epoch,
            distributor=distributor,
            chain_id=chain_id,
            treasury=treasury,
            mint=mint,
            allowance=allowance,
        )
    )
    base = f"/epochs/{chat}/{epoch}"
    typer.echo(f"epoch {epoch} published: {base}/dump.json {base}/claims.json {base}/rules.json")
    typer.echo(f"evm root: {record.evm_root or '-'}  solana root: {record.solana_root or '-'}")


@epoch_app.command("verify")
def verify(
    chat: ChatOption,
    epoch: EpochOption,
    ledger: Annotated[
        Path | None, typer.Option(help="A downloaded ledger.jsonl (with --rules).")
    ] = None,
    rules: Annotated[Path | None, typer.Option(help="A downloaded rules.json.")] = None,
) -> None:
    """Recompute the allocation and roots from the published ledger and rules."""
    from engagement import settle_service
    from engagement.settlement import CHAINS, recompute

    verdict = _run(
        lambda session: settle_service.verify(session=session, chat_id=chat, number=epoch)
    )
    recomputed = verdict.recomputed
    if ledger is not None and rules is not None:
        again = recompute(ledger.read_bytes(), json.loads(rules.read_text(encoding="utf-8")))
        recomputed = {"digest": again.ledger_digest, **{c: again.root(c) for c in CHAINS}}
    ok = recomputed == verdict.published
    for key, value in verdict.published.items():
        mark = "ok" if recomputed.get(key) == value else "MISMATCH"
        typer.echo(
            f"{key:7} {mark:8} published {value or '-'}  recomputed {recomputed.get(key) or '-'}"
        )
    if not ok:
        raise typer.Exit(1)
    typer.echo("the published roots match the ledger and rules")
