"""Closing, publishing and verifying an epoch's settlement: the database side of `settlement`.

`close` runs in the caller's transaction and only flushes: the caller commits, so a failure
anywhere leaves the epoch as it was (open or closed, without a settlement), and running it
again computes the same roots from the same ledger. Artefacts are stored at close and served
only once the settlement is published.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import utcnow
from core.models_claims import CLOSED, CONFIRMED, PUBLISHED, Artefact, Claim, SettlementRow
from core.models_claims import Settlement as SettlementRecord
from core.models_engagement import Epoch, Standing
from core.models_wallet import WalletLink
from engagement import epochs, ledger
from engagement.settlement import (
    CHAINS,
    AllocationParams,
    Chain,
    Settlement,
    SettlementError,
    canonical_ledger,
    recompute,
    rules_document,
    scores_of,
    settle,
)
from engagement.settlement_files import TREE_FILES, tree_artefact

Step = Callable[[str], None]
JSON_TYPE, JSONL_TYPE = "application/json", "application/x-ndjson"
BINARY_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class Verdict:
    """What `verify` found: the published and the recomputed values, and whether they match."""

    published: dict[str, str | None]
    recomputed: dict[str, str | None]

    @property
    def ok(self) -> bool:
        """True when every root and the ledger digest match."""
        return self.published == self.recomputed


async def find(*, session: AsyncSession, chat_id: int, number: int) -> SettlementRecord | None:
    """The settlement of epoch `number` of a group, if it was closed."""
    stmt = select(SettlementRecord).where(
        col(SettlementRecord.chat_id) == chat_id, col(SettlementRecord.epoch_number) == number
    )
    return (await session.exec(stmt)).first()


async def _epoch(session: AsyncSession, chat_id: int, number: int) -> Epoch:
    epoch = await epochs.by_number(session=session, chat_id=chat_id, number=number)
    if epoch is None:
        raise SettlementError(f"group {chat_id} has no epoch {number}")
    if epoch.state == epochs.OPEN:
        current = await epochs.current(session=session, chat_id=chat_id)
        if current is None or current.id != epoch.id:
            raise SettlementError(f"epoch {number} is not the group's current epoch")
        try:
            epoch, _ = await epochs.close(session=session, chat_id=chat_id)
        except epochs.EpochError as exc:
            raise SettlementError(f"epoch {number}: {exc}") from exc
    return epoch


async def _wallets(session: AsyncSession, members: list[int]) -> dict[Chain, dict[int, str]]:
    """Each member's payout wallet per family: the primary, else the earliest active link."""
    out: dict[Chain, dict[int, str]] = {"evm": {}, "solana": {}}
    stmt = (
        select(WalletLink)
        .where(col(WalletLink.unlinked_at).is_(None), col(WalletLink.member_id).in_(members))
        .order_by(col(WalletLink.is_primary).desc(), col(WalletLink.id))
    )
    for link in (await session.exec(stmt)).all():
        family = link.chain_family
        if family in out:
            out[family].setdefault(int(link.member_id), link.address)
    return out


async def _excluded(session: AsyncSession, chat_id: int) -> list[int]:
    stmt = select(col(Standing.member_id)).where(
        col(Standing.chat_id) == chat_id, col(Standing.status) == "excluded"
    )
    return sorted(int(m) for m in (await session.exec(stmt)).all())


async def _export(session: AsyncSession, epoch: Epoch) -> bytes:
    rows = [r async for r in ledger.export(session=session, chat_id=epoch.chat_id, epoch=epoch)]
    return canonical_ledger(rows)


def _artefacts(result: Settlement, rules: dict[str, Any], export: bytes) -> list[dict[str, Any]]:
    """The artefacts kept in the database: the documents and what proof lookups read."""
    files = [
        ("rules.json", JSON_TYPE, json.dumps(rules, sort_keys=True, indent=1).encode()),
        ("ledger.jsonl", JSONL_TYPE, export),
    ]
    for chain, tree in result.trees.items():
        files += [(f"{chain}/nodes.bin", BINARY_TYPE, tree.nodes)]
        files += [(f"{chain}/accounts.bin", BINARY_TYPE, tree.accounts)]
    return [{"name": n, "media_type": t, "body": b} for n, t, b in files]


async def close(
    *,
    session: AsyncSession,
    chat_id: int,
    number: int,
    params: AllocationParams,
    prefer: Chain = "evm",
    step: Step | None = None,
    files: Path | None = None,
) -> tuple[SettlementRecord, Settlement]:
    """Closes epoch `number` (if still open) and freezes its settlement; the caller commits.

    Args:
        session: The database session; nothing is committed here.
        chat_id: The group.
        number: The epoch's number in the group.
        params: The allocation parameters to publish.
        prefer: The chain that pays members who linked both.
        step: Called with the name of each step, for progress display.
        files: The data directory: each tree's dump and claims file are streamed to files
            there (see `settlement_files`); without it they are stored in the database.

    Returns:
        The stored settlement and the computed one.

    Raises:
        SettlementError: No such epoch, one already settled, or one that does not settle.
    """
    tick = step or (lambda _: None)
    if await find(session=session, chat_id=chat_id, number=number) is not None:
        raise SettlementError(f"epoch {number} is already settled")
    epoch = await _epoch(session, chat_id, number)
    tick("ledger")
    export = await _export(session, epoch)
    scores = scores_of(export)
    wallets = await _wallets(session, sorted(scores))
    excluded = await _excluded(session, chat_id)
    tick("allocation")
    result = _settle(
        scores, params, wallets=wallets, excluded=excluded, prefer=prefer, export=export
    )
    rules = rules_document(
        params,
        rules=epoch.rules or [],
        excluded=excluded,
        evm_wallets=wallets["evm"],
        solana_wallets=wallets["solana"],
        prefer=prefer,
    )
    record = SettlementRecord(
        chat_id=chat_id,
        epoch_number=number,
        epoch_id=epoch.id or 0,
        state=CLOSED,
        pool=str(params.pool),
        params=params.to_json(),
        ledger_digest=result.ledger_digest,
        evm_root=result.root("evm"),
        solana_root=result.root("solana"),
        held_back=str(sum(result.unlinked.values())),
        rules=rules["scoring"],
        unlinked={str(m): str(a) for m, a in result.unlinked.items()},
    )
    session.add(record)
    try:
        await session.flush()
    except IntegrityError as exc:  # another close of the same epoch won the race
        raise SettlementError(f"epoch {number} is already settled") from exc
    tick("store")
    await store(session, record.id or 0, result, _artefacts(result, rules, export), files)
    return record, result


def _settle(
    scores: dict[int, int],
    params: AllocationParams,
    *,
    wallets: dict[Chain, dict[int, str]],
    excluded: list[int],
    prefer: Chain,
    export: bytes,
) -> Settlement:
    return settle(
        scores,
        params,
        evm_wallets=wallets["evm"],
        solana_wallets=wallets["solana"],
        excluded=excluded,
        prefer=prefer,
        export=export,
    )


async def preview(
    *,
    session: AsyncSession,
    chat_id: int,
    number: int,
    params: AllocationParams,
    prefer: Chain = "evm",
) -> Settlement:
    """What `close` would freeze now, without storing anything (the epoch must be closed).

    Members who link a wallet between the preview and the close are paid in the close.

    Raises:
        SettlementError: No such epoch, one still open, or one that does not settle.
    """
    epoch = await epochs.by_number(session=session, chat_id=chat_id, number=number)
    if epoch is None or epoch.state == epochs.OPEN:
        raise SettlementError(f"epoch {number} is not closed")
    export = await _export(session, epoch)
    scores = scores_of(export)
    wallets = await _wallets(session, sorted(scores))
    excluded = await _excluded(session, chat_id)
    return _settle(scores, params, wallets=wallets, excluded=excluded, prefer=prefer, export=export)


_ROW_COLUMNS = ("settlement_id", "chain", "index", "member_id", "account", "amount", "tree_index")
_SQLITE_INSERT_ROWS = (
    'INSERT INTO claims_rows (settlement_id, chain, "index", member_id, account, amount, '
    "tree_index) VALUES (?, ?, ?, ?, ?, ?, ?)"
)


async def store_rows(session: AsyncSession, rows: Iterable[tuple[Any, ...]]) -> None:
    """Inserts claim rows (tuples in `_ROW_COLUMNS` order) in the session's transaction.

    A million rows are one COPY on PostgreSQL and one `executemany` on SQLite, on the driver's
    connection: building a parameter dict and an ORM insert per row costs more than the tree.
    Rows come in index order, which is also member order, so every index of the table grows
    at its end (the lookup by account is each tree's `accounts.bin`, not a table index).
    """
    conn = await session.connection()
    driver: Any = (await conn.get_raw_connection()).driver_connection
    if conn.dialect.name == "postgresql":
        if not driver.is_in_transaction():
            # SQLAlchemy opens asyncpg's transaction at the first statement; without one, the
            # COPY would commit on its own and survive a rollback of the caller's work.
            await conn.execute(text("SELECT 1"))
        await driver.copy_records_to_table("claims_rows", records=rows, columns=_ROW_COLUMNS)
    else:
        await driver.executemany(_SQLITE_INSERT_ROWS, rows)


async def store(
    session: AsyncSession,
    settlement_id: int,
    result: Settlement,
    artefacts: list[dict[str, Any]],
    files: Path | None,
) -> None:
    """Stores a computed settlement's claim rows, its artefacts and its published files.

    Args:
        session: The database session; only flushed.
        settlement_id: The settlement record the rows belong to.
        result: The computed settlement.
        artefacts: Artefacts kept in the database (`name`, `media_type`, `body`).
        files: The data directory for the dumps and claims files, or None to store them in
            the database too.
    """
    for tree in result.trees.values():
        await store_rows(session, tree.records(settlement_id))
    published = [
        tree_artefact(files, tree, name) for tree in result.trees.values() for name in TREE_FILES
    ]
    params = [{"settlement_id": settlement_id, "path": None, **f} for f in artefacts + published]
    if params:
        await session.exec(insert(Artefact), params=params)  # type: ignore[call-overload]
    await session.flush()


async def publish(
    *,
    session: AsyncSession,
    chat_id: int,
    number: int,
    distributor: str | None = None,
    chain_id: str | None = None,
    treasury: str | None = None,
    mint: str | None = None,
    allowance: int | None = None,
) -> SettlementRecord:
    """Publishes a closed settlement: its artefacts are served from now on; the caller commits.

    Args:
        session: The database session.
        chat_id: The group.
        number: The epoch's number.
        distributor: The EVM distributor contract holding the EVM root.
        chain_id: The EVM chain id.
        treasury: The Solana token account that delegated the allowance.
        mint: The Solana mint.
        allowance: The delegated amount (base units) the claim authority may move.

    Raises:
        SettlementError: Not closed, already published, or an allowance below the Solana total.
    """
    record = await find(session=session, chat_id=chat_id, number=number)
    if record is None:
        raise SettlementError(f"epoch {number} has no settlement: close it first")
    if record.state == PUBLISHED:
        raise SettlementError(f"epoch {number} is already published")
    if record.solana_root is not None:
        owed = await chain_total(session=session, settlement_id=record.id or 0, chain="solana")
        if allowance is None or allowance < owed:
            raise SettlementError(
                f"the Solana allowance {allowance} is smaller than the {owed} base units "
                "Solana members can claim: grant at least that much"
            )
    record.state = PUBLISHED
    record.published_at = utcnow()
    record.distributor, record.chain_id = distributor, chain_id
    record.treasury, record.mint = treasury, mint
    record.allowance = None if allowance is None else str(allowance)
    session.add(record)
    epoch = await session.get(Epoch, record.epoch_id)
    if epoch is not None and epoch.state == epochs.CLOSED:
        await epochs.publish(session=session, chat_id=chat_id, number=number)
    await session.flush()
    return record


async def chain_total(*, session: AsyncSession, settlement_id: int, chain: Chain) -> int:
    """The sum of a chain's claim amounts in a settlement."""
    stmt = select(col(SettlementRow.amount)).where(
        col(SettlementRow.settlement_id) == settlement_id, col(SettlementRow.chain) == chain
    )
    return sum(int(a) for a in (await session.exec(stmt)).all())


async def solana_outstanding(
    *, session: AsyncSession, chat_id: int, treasury: str, excluding: int
) -> int:
    """What members of the group's other published epochs may still claim on Solana from
    `treasury`: those epochs' Solana totals less their confirmed claims.

    A token account has one delegate, so the group's epochs share one claim authority, and its
    allowance has to cover these as well as the epoch being funded.
    """
    others = select(col(SettlementRecord.id)).where(
        col(SettlementRecord.chat_id) == chat_id,
        col(SettlementRecord.state) == PUBLISHED,
        col(SettlementRecord.treasury) == treasury,
        col(SettlementRecord.id) != excluding,
    )
    owed = select(col(SettlementRow.amount)).where(
        col(SettlementRow.settlement_id).in_(others), col(SettlementRow.chain) == "solana"
    )
    paid = select(col(Claim.amount)).where(
        col(Claim.settlement_id).in_(others),
        col(Claim.chain) == "solana",
        col(Claim.status) == CONFIRMED,
    )
    total_owed = sum(int(a) for a in (await session.exec(owed)).all())
    return total_owed - sum(int(a) for a in (await session.exec(paid)).all())


async def artefact(*, session: AsyncSession, settlement_id: int, name: str) -> Artefact | None:
    """A stored artefact by name (`rules.json`, `ledger.jsonl`, `evm/dump.json`, ...)."""
    return await session.get(Artefact, (settlement_id, name))


async def verify(*, session: AsyncSession, chat_id: int, number: int) -> Verdict:
    """Recomputes the roots and digest from the stored `ledger.jsonl` and `rules.json`.

    Raises:
        SettlementError: No settlement, or documents that do not settle.
    """
    record = await find(session=session, chat_id=chat_id, number=number)
    if record is None:
        raise SettlementError(f"epoch {number} has no settlement")
    files = {}
    for name in ("ledger.jsonl", "rules.json"):
        found = await artefact(session=session, settlement_id=record.id or 0, name=name)
        if found is None:
            raise SettlementError(f"epoch {number} has no {name}")
        files[name] = found.body
    again = recompute(files["ledger.jsonl"], json.loads(files["rules.json"]))
    published: dict[str, str | None] = {"digest": record.ledger_digest, "evm": record.evm_root}
    published["solana"] = record.solana_root
    recomputed: dict[str, str | None] = {"digest": again.ledger_digest}
    recomputed.update({c: again.root(c) for c in CHAINS})
    return Verdict(published, recomputed)
