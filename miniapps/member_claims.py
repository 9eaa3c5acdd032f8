"""The members' "My claims" Mini App API: each published epoch of the group where the member
has a claim, with its chain, account, amount and status, and the epochs where their points
found no wallet to pay.

Statuses come from what is known for sure: a confirmed claim in our database, the EVM
distributor itself (`isClaimed`, its balance and claim deadline), the settlement's Solana
allowance and deadline. A chain that is down or slow never breaks the page: its rows say
"status unknown" and why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import utcnow
from core.models_claims import CONFIRMED, PUBLISHED, Claim, SettlementRow
from core.models_claims import Settlement as SettlementRecord
from miniapps.api import ChatQuery, chat_json, group_for, groups_json
from miniapps.claims import ChainUnavailable, EvmClientFactory, default_evm_client
from miniapps.deps import CurrentMember

if TYPE_CHECKING:
    from web3 import AsyncWeb3

CLAIMABLE, CLAIMED = "claimable", "claimed"
NOT_FUNDED, AFTER_DEADLINE, UNKNOWN = "not funded", "after deadline", "status unknown"
EPOCH_LIMIT = 50  # the newest published epochs shown
CHAIN_TIMEOUT = 5.0  # seconds a chain may take before its rows say "status unknown"
ME_TIMEOUT = 2.0  # seconds to learn the bot's username for the /link deep link


@dataclass(frozen=True)
class EvmFacts:
    """What the distributor of one settlement says, read once for all of a member's leaves."""

    claimed: dict[int, bool]
    balance: int
    deadline: int
    now: int


def evm_status(facts: EvmFacts, *, index: int, amount: int) -> str:
    """A leaf's status from the distributor's answers (pure)."""
    if facts.claimed.get(index):
        return CLAIMED
    if facts.now > facts.deadline:
        return AFTER_DEADLINE
    return CLAIMABLE if facts.balance >= amount else NOT_FUNDED


def solana_status(record: SettlementRecord, *, confirmed: bool, now_ts: float) -> str:
    """A Solana claim's status from the settlement's record (pure)."""
    if confirmed:
        return CLAIMED
    if record.deadline is not None and now_ts > record.deadline.timestamp():
        return AFTER_DEADLINE
    return CLAIMABLE if record.treasury and record.allowance else NOT_FUNDED


async def read_evm_facts(w3: AsyncWeb3, *, distributor: str, indexes: Sequence[int]) -> EvmFacts:
    """The distributor's `isClaimed` of each leaf, its token balance and claim deadline."""
    from wallet.distributor import distributor_contract, is_claimed, token_contract

    contract = distributor_contract(w3, distributor)
    token = token_contract(w3, await contract.functions.token().call())
    claimed = {i: await is_claimed(w3, distributor=distributor, index=i) for i in indexes}
    block = await w3.eth.get_block("latest")
    return EvmFacts(
        claimed=claimed,
        balance=int(await token.functions.balanceOf(contract.address).call()),
        deadline=int(await contract.functions.claimDeadline().call()),
        now=int(block["timestamp"]),
    )


async def published_of(*, session: AsyncSession, chat_id: int) -> list[SettlementRecord]:
    """The group's newest published settlements, newest first."""
    stmt = (
        select(SettlementRecord)
        .where(
            col(SettlementRecord.chat_id) == chat_id,
            col(SettlementRecord.state) == PUBLISHED,
        )
        .order_by(col(SettlementRecord.epoch_number).desc())
        .limit(EPOCH_LIMIT)
    )
    return list((await session.exec(stmt)).all())


async def rows_of(
    *, session: AsyncSession, records: Sequence[SettlementRecord], member_id: int
) -> tuple[list[SettlementRow], dict[tuple[int, str], Claim]]:
    """The member's claim rows in `records` and their claims by (epoch id, chain)."""
    ids = [r.id for r in records]
    stmt = select(SettlementRow).where(
        col(SettlementRow.settlement_id).in_(ids), col(SettlementRow.member_id) == member_id
    )
    rows = list((await session.exec(stmt)).all())
    found = select(Claim).where(
        col(Claim.settlement_id).in_(ids), col(Claim.member_id) == member_id
    )
    claims = {(c.epoch_id, c.chain): c for c in (await session.exec(found)).all()}
    return rows, claims


class ClaimStatuses:
    """Statuses of one member's rows, asking each settlement's EVM distributor at most once."""

    def __init__(self, gateway: Any, evm_client: EvmClientFactory) -> None:
        self.gateway, self.evm_client = gateway, evm_client

    async def evm(
        self, record: SettlementRecord, rows: Sequence[SettlementRow], done: set[int]
    ) -> dict[int, tuple[str, str | None]]:
        """`{index: (status, reason)}` of the record's EVM rows; `done` are confirmed ones."""
        out: dict[int, tuple[str, str | None]] = dict.fromkeys(done, (CLAIMED, None))
        open_rows = [r for r in rows if r.index not in done]
        if not open_rows:
            return out
        if not record.distributor:
            return out | {r.index: (NOT_FUNDED, None) for r in open_rows}
        try:
            w3 = self.evm_client(self.gateway, record)
            if w3 is None:
                raise ChainUnavailable("no RPC endpoint for this epoch's EVM chain")
            facts = await asyncio.wait_for(
                read_evm_facts(
                    w3, distributor=record.distributor, indexes=[r.index for r in open_rows]
                ),
                CHAIN_TIMEOUT,
            )
        except TimeoutError:
            return out | {r.index: (UNKNOWN, "the EVM chain did not answer") for r in open_rows}
        except ChainUnavailable as error:  # our own words, e.g. the chains are starting
            return out | {r.index: (UNKNOWN, str(error)) for r in open_rows}
        except Exception as error:  # any chain failure: the page still shows the rest
            # Only the kind of failure: a provider's message can carry its URL and API key.
            reason = f"the EVM chain could not be read ({type(error).__name__})"
            return out | {r.index: (UNKNOWN, reason) for r in open_rows}
        return out | {
            r.index: (evm_status(facts, index=r.index, amount=int(r.amount)), None)
            for r in open_rows
        }


def claim_json(
    record: SettlementRecord,
    row: SettlementRow,
    status: tuple[str, str | None],
    claim: Claim | None,
) -> dict[str, Any]:
    return {
        "epoch": record.epoch_number,
        "chain": row.chain,
        "account": row.account,
        "amount": row.amount,
        "status": status[0],
        "reason": status[1],
        "tx_hash": claim.tx_hash if claim is not None and claim.status == CONFIRMED else None,
        "claim_url": f"/claim/{record.chat_id}/{record.epoch_number}",
    }


@dataclass(frozen=True)
class MemberClaims:
    """A member's rows in a group's published settlements, read in one short session."""

    member_id: int
    records: list[SettlementRecord]
    rows: dict[int, list[SettlementRow]]  # by settlement id
    claims: dict[tuple[int, str], Claim]  # by (epoch id, chain)


async def load(*, session: AsyncSession, chat_id: int, member_id: int) -> MemberClaims:
    """Everything the claims page needs from the database; the chains are asked later."""
    records = await published_of(session=session, chat_id=chat_id)
    rows, claims = await rows_of(session=session, records=records, member_id=member_id)
    by_record: dict[int, list[SettlementRow]] = {}
    for row in rows:
        by_record.setdefault(row.settlement_id, []).append(row)
    return MemberClaims(member_id, records, by_record, claims)


async def claims_json(found: MemberClaims, statuses: ClaimStatuses) -> dict[str, Any]:
    """The member's claims with their statuses, and the epochs where no wallet could be paid.

    The distributors of several epochs are asked at the same time, outside any database
    session, so a slow chain holds no connection.
    """
    evm_work = []
    for record in found.records:
        evm_rows = [r for r in found.rows.get(record.id or 0, []) if r.chain == "evm"]
        if evm_rows:
            done = _confirmed(found.claims.get((record.epoch_id, "evm")))
            evm_work.append(statuses.evm(record, evm_rows, {r.index for r in evm_rows if done}))
    evm_statuses = iter(await asyncio.gather(*evm_work))
    now_ts = utcnow().timestamp()
    out: list[dict[str, Any]] = []
    for record in found.records:
        mine = found.rows.get(record.id or 0, [])
        evm = next(evm_statuses) if any(r.chain == "evm" for r in mine) else {}
        for row in mine:
            claim = found.claims.get((record.epoch_id, row.chain))
            if row.chain == "evm":
                status = evm[row.index]
            else:
                state = solana_status(record, confirmed=_confirmed(claim), now_ts=now_ts)
                status = (state, None)
            out.append(claim_json(record, row, status, claim))
    key = str(found.member_id)
    unlinked = [
        {"epoch": r.epoch_number, "amount": r.unlinked[key]}
        for r in found.records
        if key in r.unlinked
    ]
    return {"claims": out, "unlinked": unlinked}


def _confirmed(claim: Claim | None) -> bool:
    return claim is not None and claim.status == CONFIRMED


async def link_url(gateway: Any, chat_id: int) -> str | None:
    """The bot's `/start link_<group>` deep link, when the bot's username can be learnt."""
    bot = getattr(gateway, "bot", None)
    if bot is None:
        return None
    try:
        me = await asyncio.wait_for(bot.me(), ME_TIMEOUT)
    except Exception:  # the link is a convenience: "/link" in the bot's chat does the same
        return None
    username = getattr(me, "username", None)
    return f"https://t.me/{username}?start=link_{chat_id}" if username else None


def create_member_claims_router(*, evm_client: EvmClientFactory = default_evm_client) -> APIRouter:
    """`GET /miniapp/api/claims`: the current member's claims in a group.

    Args:
        evm_client: Gives an `AsyncWeb3` for a settlement's EVM chain (distributor reads).
    """
    router = APIRouter(prefix="/miniapp/api", tags=["miniapps"])

    @router.get("/claims")
    async def claims(request: Request, who: CurrentMember, chat_id: ChatQuery = None) -> Any:
        gateway = request.app.state.gateway
        async with gateway.sessions() as session:
            chat = await group_for(session, who, chat_id)
            if chat is None:
                return {
                    "chat": None,
                    "claims": [],
                    "unlinked": [],
                    "groups": await groups_json(session, who.member_id),
                }
            found = await load(session=session, chat_id=chat, member_id=who.member_id)
            title = await chat_json(session, chat)
        body = await claims_json(found, ClaimStatuses(gateway, evm_client)) | {"chat": title}
        if body["unlinked"]:
            body["link_url"] = await link_url(gateway, chat)
        return body

    return router
