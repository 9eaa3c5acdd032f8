"""Claims of a published settlement: proof lookups, Solana claim transactions, confirmations.

One `claims_claims` row per (epoch, member, chain), created with `ON CONFLICT DO NOTHING`,
so concurrent requests agree on one claim. A Solana claim keeps at most one live transaction:
a second prepare returns it while its blockhash is valid, and replaces it (compare-and-set on
the old blockhash) only once it has expired, when it can no longer land.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from solders.hash import Hash
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature
from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import utcnow
from core.models_claims import CONFIRMED, PREPARED, PUBLISHED, Artefact, Claim, SettlementRow
from core.models_claims import Settlement as SettlementRecord
from engagement.settlement import proof_from_nodes
from wallet.account_lookup import find_index
from wallet.merkle_hash import checksum_addresses
from wallet.settlement_proofs import ClaimRow, NodeCache, claim_row
from wallet.solana_claims import AlreadyClaimed, ClaimNotConfirmed, claim_memo, to_wire

NODES = NodeCache()  # the nodes and account lookups of recently used trees, by root
Sessions = Callable[[], AbstractAsyncContextManager[AsyncSession]]


if TYPE_CHECKING:
    from web3 import AsyncWeb3

    from wallet.chains.solana import SolanaChainIO


class ClaimLookupError(LookupError):
    """No published settlement, or no claim for that account in it."""


@dataclass(frozen=True)
class SolanaPayout:
    """What building Solana claims needs: the chain, the mint, the treasury and its delegate."""

    chain: SolanaChainIO
    mint: Pubkey
    decimals: int
    treasury_token_account: Pubkey
    claim_authority: Keypair


def normalise(account: str) -> tuple[str, str]:
    """`(chain, account)`: EVM addresses in EIP-55 form, anything else as a Solana owner.

    Raises:
        ClaimLookupError: An `0x` string that is not a 20-byte address.
    """
    if account.startswith(("0x", "0X")):
        try:
            raw = bytes.fromhex(account[2:])
        except ValueError:
            raw = b""
        if len(raw) != 20:
            raise ClaimLookupError(f"{account!r} is not an EVM address")
        return "evm", checksum_addresses(raw)[0]
    return "solana", account


async def published(*, session: AsyncSession, chat_id: int, number: int) -> SettlementRecord:
    """The published settlement of an epoch.

    Raises:
        ClaimLookupError: The epoch has no settlement, or it is not published yet.
    """
    stmt = select(SettlementRecord).where(
        col(SettlementRecord.chat_id) == chat_id, col(SettlementRecord.epoch_number) == number
    )
    record = (await session.exec(stmt)).first()
    if record is None or record.state != PUBLISHED:
        raise ClaimLookupError(f"epoch {number} of group {chat_id} is not published")
    return record


async def lookup(
    *, session: AsyncSession, chat_id: int, number: int, account: str
) -> tuple[SettlementRecord, SettlementRow]:
    """The published claim row of `account` (an indexed lookup).

    Raises:
        ClaimLookupError: Not published, or `account` has nothing to claim.
    """
    record = await published(session=session, chat_id=chat_id, number=number)
    return record, await row_of(session=session, record=record, account=account)


def _same(session: AsyncSession) -> Sessions:
    """A session factory that hands out `session` itself (for callers inside one session)."""

    @asynccontextmanager
    async def same() -> AsyncIterator[AsyncSession]:
        yield session

    return same


def _account_bytes(chain: str, key: str) -> bytes | None:
    """The raw 20-byte address or 32-byte owner of a normalised account, None when malformed."""
    if chain == "evm":
        return bytes.fromhex(key[2:])
    try:
        return bytes(Pubkey.from_string(key))
    except ValueError:
        return None


async def _index_of(sessions: Sessions, record: SettlementRecord, account: str) -> tuple[str, int]:
    """`(chain, claim index)` of `account`, through the tree's `accounts.bin` lookup.

    Raises:
        ClaimLookupError: `account` is no address, or has nothing to claim.
    """
    chain, key = normalise(account)
    raw = _account_bytes(chain, key)
    lookup = await _tree_blob(sessions, record, chain, "accounts.bin") if raw else None
    index = find_index(lookup, raw) if lookup and raw else None
    if index is None:
        raise ClaimLookupError(f"{account} has no claim in epoch {record.epoch_number}")
    return chain, index


async def row_of(*, session: AsyncSession, record: SettlementRecord, account: str) -> SettlementRow:
    """The claim row of `account` in a published settlement (a lookup, then one primary key read).

    Raises:
        ClaimLookupError: `account` has nothing to claim.
    """

    chain, index = await _index_of(_same(session), record, account)
    row = await session.get(SettlementRow, (record.id, chain, index))
    if row is None:
        raise ClaimLookupError(f"{account} has no claim in epoch {record.epoch_number}")
    return row


async def proof(
    *, session: AsyncSession, record: SettlementRecord, row: SettlementRow
) -> list[str]:
    """The Merkle proof of `row`, read from the settlement's stored nodes (kept in `NODES`)."""

    nodes = await _tree_blob(_same(session), record, row.chain, "nodes.bin")
    return proof_from_nodes(nodes, row.tree_index)


async def _tree_blob(sessions: Sessions, record: SettlementRecord, chain: str, name: str) -> bytes:
    """Artefact `{chain}/{name}` of a settlement's tree, kept in `NODES` by root once read.

    Raises:
        ClaimLookupError: The settlement has no tree on `chain`, or not that artefact.
    """
    root = record.evm_root if chain == "evm" else record.solana_root
    if root is None:
        raise ClaimLookupError(f"epoch {record.epoch_number} has no {chain} tree")
    artefact = f"{chain}/{name}"

    async def load() -> bytes | None:  # only when the artefact is not in memory
        async with sessions() as session:
            found = await session.get(Artefact, (record.id, artefact))
        return None if found is None else found.body

    blob = await NODES.get(f"{root}/{artefact}", load)
    if blob is None:
        raise ClaimLookupError(f"epoch {record.epoch_number} has no {artefact}")
    return blob


async def published_proof(
    *, sessions: async_sessionmaker[AsyncSession], record: SettlementRecord, account: str
) -> tuple[ClaimRow, list[str]]:
    """The claim row of `account` in a published settlement and its proof: one indexed query.

    A session is opened only when a tree's artefacts are not in memory yet.

    Raises:
        ClaimLookupError: `account` is no address, or has nothing to claim.
    """
    chain, index = await _index_of(sessions, record, account)
    row = await claim_row(sessions.kw["bind"], record.id or 0, chain, index)
    if row is None:
        raise ClaimLookupError(f"{account} has no claim in epoch {record.epoch_number}")
    nodes = await _tree_blob(sessions, record, chain, "nodes.bin")
    return row, proof_from_nodes(nodes, row.tree_index)


async def _claim(session: AsyncSession, record: SettlementRecord, row: SettlementRow) -> Claim:
    """The member's claim row, created once whoever asks first."""
    module = postgresql if _is_pg(session) else sqlite
    values = {
        "settlement_id": record.id,
        "epoch_id": record.epoch_id,
        "member_id": row.member_id,
        "chain": row.chain,
        "index": row.index,
        "account": row.account,
        "amount": row.amount,
        "status": PREPARED,
        "created_at": utcnow(),
        "updated_at": utcnow(),
    }
    await session.exec(module.insert(Claim).values(**values).on_conflict_do_nothing())  # type: ignore[call-overload]
    stmt = select(Claim).where(
        col(Claim.epoch_id) == record.epoch_id,
        col(Claim.member_id) == row.member_id,
        col(Claim.chain) == row.chain,
    )
    return (await session.exec(stmt.execution_options(populate_existing=True))).one()


def _is_pg(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"


async def prepare_solana(
    *, session: AsyncSession, chat_id: int, number: int, owner: str, payout: SolanaPayout
) -> Claim:
    """The member's live claim transaction (`Claim.tx`, base64), built once per blockhash.

    Args:
        session: The database session; the caller commits.
        chat_id: The group.
        number: The epoch.
        owner: The member's Solana wallet (base58).
        payout: The chain, mint, treasury and claim authority.

    Returns:
        The claim; `tx` is the same while its blockhash is valid, a fresh one after it expired.

    Raises:
        ClaimLookupError: Not published, or nothing to claim for `owner`.
        AlreadyClaimed: The claim is confirmed.
        AllowanceTooSmall: The treasury's allowance no longer covers the amount.
    """
    record, row = await lookup(session=session, chat_id=chat_id, number=number, account=owner)
    if row.chain != "solana":
        raise ClaimLookupError(f"{owner} is not a Solana owner")
    claim = await _claim(session, record, row)
    if claim.status == CONFIRMED:
        raise AlreadyClaimed(f"{owner} already claimed epoch {number}")
    if claim.blockhash and await payout.chain.is_blockhash_valid(Hash.from_string(claim.blockhash)):
        return claim
    from wallet.chains.solana import prepare_claim  # solana-py: imported on first use

    prepared = await prepare_claim(
        payout.chain,
        member=Pubkey.from_string(row.account),
        mint=payout.mint,
        decimals=payout.decimals,
        treasury_token_account=payout.treasury_token_account,
        claim_authority=payout.claim_authority,
        amount=int(row.amount),
        memo=claim_memo(chat_id, number, row.index),
    )
    table = Claim.__table__  # type: ignore[attr-defined]
    swap = (
        update(table)
        .where(table.c.id == claim.id, table.c.blockhash.is_not_distinct_from(claim.blockhash))
        .where(table.c.status != CONFIRMED)
        .values(
            tx=to_wire(prepared.tx),
            blockhash=str(prepared.tx.message.recent_blockhash),
            last_valid_height=prepared.last_valid_block_height,
            status=PREPARED,
            updated_at=utcnow(),
        )
    )
    await session.exec(swap)  # type: ignore[call-overload]
    # Whoever won the swap, the row now holds the one live transaction.
    await session.refresh(claim)
    return claim


async def confirm_solana(
    *,
    session: AsyncSession,
    chat_id: int,
    number: int,
    owner: str,
    signature: str,
    chain: SolanaChainIO,
) -> Claim:
    """Records a landed Solana claim after the chain confirms `signature`.

    Raises:
        ClaimLookupError: Not published, nothing to claim, or no claim prepared.
        ClaimError: The chain does not confirm it (`ClaimNotConfirmed`, `ClaimTxFailed`).
    """
    record, row = await lookup(session=session, chat_id=chat_id, number=number, account=owner)
    claim = await _claim(session, record, row)
    if claim.status == CONFIRMED:
        return claim
    if claim.tx is None:
        raise ClaimLookupError("no claim transaction was prepared")
    sig = Signature.from_string(signature)
    await chain.confirm(sig, timeout=5.0)
    _mark(claim, signature)
    session.add(claim)
    await session.flush()
    return claim


async def confirm_evm(
    *, session: AsyncSession, chat_id: int, number: int, account: str, tx_hash: str, w3: AsyncWeb3
) -> Claim:
    """Records an EVM claim once the distributor says the leaf is claimed.

    Raises:
        ClaimLookupError: Not published, nothing to claim, or no distributor recorded.
        ClaimNotConfirmed: The distributor has not seen the claim.
    """
    record, row = await lookup(session=session, chat_id=chat_id, number=number, account=account)
    if not record.distributor:
        raise ClaimLookupError(f"epoch {number} has no EVM distributor")
    claim = await _claim(session, record, row)
    if claim.status == CONFIRMED:
        return claim
    from wallet.distributor import is_claimed  # web3: imported on first use

    if not await is_claimed(w3, distributor=record.distributor, index=row.index):
        raise ClaimNotConfirmed(f"leaf {row.index} is not claimed on {record.distributor}")
    _mark(claim, tx_hash)
    session.add(claim)
    await session.flush()
    return claim


def _mark(claim: Claim, tx_hash: str) -> None:
    claim.status, claim.tx_hash = CONFIRMED, tx_hash
    claim.confirmed_at = claim.updated_at = utcnow()
