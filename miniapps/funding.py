"""The funding page: a manager funds a frozen epoch's claims from their own wallet.

The page prepares the transactions (deploy and fund the EVM distributor; approve the epoch's
claim authority on Solana) for the wallet to sign and send, then asks the gateway to check the
chain; what the chain confirms is recorded on the settlement, and Publish in the group uses it.
Preparing gives nothing away (the wallet must sign), and a record is only ever what the chain
shows, so the routes need no session. The chains come from `gateway.chains`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from solders.pubkey import Pubkey
from sqlmodel.ext.asyncio.session import AsyncSession

from core.models_claims import CLOSED
from core.models_claims import Settlement as SettlementRecord
from engagement import settle_service
from miniapps.claims import HEADERS, ChainUnavailable, ChatId, EpochNumber, refuse
from wallet.chains.evm import checksum
from wallet.solana_claims import to_wire

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
CLAIM_WINDOW = 30 * 24 * 3600  # seconds from funding to the distributor's deadline


def _funding() -> ModuleType:
    """`wallet.funding`, imported on first use: it loads web3, which start-up skips."""
    from wallet import funding

    return funding


class OwnerIn(BaseModel):
    owner: str = Field(min_length=32, max_length=44)


class DistributorIn(BaseModel):
    distributor: str = Field(min_length=42, max_length=42)


class Refusal(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


def _chains(request: Request) -> Any:
    chains = getattr(request.app.state.gateway, "chains", None)
    if chains is None:
        raise Refusal(404, "this gateway runs no chain to fund claims on")
    try:
        chains.require()
    except ChainUnavailable as error:
        raise Refusal(503, str(error)) from error
    return chains


async def _closed(session: AsyncSession, chat_id: int, epoch: int) -> SettlementRecord:
    record = await settle_service.find(session=session, chat_id=chat_id, number=epoch)
    if record is None:
        raise Refusal(404, f"epoch {epoch} is not frozen yet: press Publish in the group first")
    if record.state != CLOSED:
        raise Refusal(409, f"epoch {epoch} is already published")
    return record


async def _plan(session: AsyncSession, record: SettlementRecord, chains: Any) -> dict[str, Any]:
    plan: dict[str, Any] = {"state": record.state, "evm": None, "solana": None}
    sid = record.id or 0
    if record.evm_root is not None:
        plan["evm"] = {
            "root": record.evm_root,
            "total": str(
                await settle_service.chain_total(session=session, settlement_id=sid, chain="evm")
            ),
            "token": chains.token,
            "chain_id": chains.chain_id,
            "distributor": record.distributor,
        }
    if record.solana_root is not None:
        authority = chains.claim_authority(record.chat_id)
        plan["solana"] = {
            "total": str(
                await settle_service.chain_total(session=session, settlement_id=sid, chain="solana")
            ),
            "mint": str(chains.mint),
            "claim_authority": str(authority.pubkey()),
            "treasury": record.treasury,
            "allowance": record.allowance,
        }
    return plan


def _evm_address(text: str) -> str:
    try:
        return checksum(text)
    except ValueError as error:
        raise Refusal(422, f"{text!r} is not an EVM address") from error


def _pubkey(text: str) -> Pubkey:
    try:
        return Pubkey.from_string(text)
    except ValueError as error:
        raise Refusal(422, f"{text!r} is not a Solana address") from error


async def _evm_prepare(
    session: AsyncSession, record: SettlementRecord, chains: Any, *, body: OwnerIn
) -> dict[str, Any]:
    if record.evm_root is None:
        raise Refusal(409, f"epoch {record.epoch_number} pays nobody on EVM")
    block = await chains.w3.eth.get_block("latest")
    data = _funding().deploy_data(
        token=chains.token,
        root=record.evm_root,
        deadline=int(block["timestamp"]) + CLAIM_WINDOW,
        owner=_evm_address(body.owner),
    )
    return {"data": data, "chain_id": chains.chain_id}


async def _evm_confirm(
    session: AsyncSession, record: SettlementRecord, chains: Any, *, body: DistributorIn
) -> dict[str, Any]:
    if record.evm_root is None:
        raise Refusal(409, f"epoch {record.epoch_number} pays nobody on EVM")
    total = await settle_service.chain_total(
        session=session, settlement_id=record.id or 0, chain="evm"
    )
    address = _evm_address(body.distributor)
    await _funding().check_distributor(
        chains.w3, address=address, token=chains.token, root=record.evm_root, total=total
    )
    record.distributor, record.chain_id = address, chains.chain_id
    session.add(record)
    return await _plan(session, record, chains)


async def _solana_total(session: AsyncSession, record: SettlementRecord) -> int:
    if record.solana_root is None:
        raise Refusal(409, f"epoch {record.epoch_number} pays nobody on Solana")
    return await settle_service.chain_total(
        session=session, settlement_id=record.id or 0, chain="solana"
    )


async def _solana_allowance(
    session: AsyncSession, record: SettlementRecord, chains: Any, owner: Pubkey
) -> tuple[Pubkey, int]:
    """The owner's treasury account and the allowance it must grant: this epoch's Solana total
    and what the group's other published epochs still owe from that account (one delegate)."""
    treasury = _funding().treasury_of(owner, chains.mint)
    owed = await settle_service.solana_outstanding(
        session=session, chat_id=record.chat_id, treasury=str(treasury), excluding=record.id or 0
    )
    return treasury, await _solana_total(session, record) + owed


async def _solana_prepare(
    session: AsyncSession, record: SettlementRecord, chains: Any, *, body: OwnerIn
) -> dict[str, Any]:
    owner = _pubkey(body.owner)
    _, total = await _solana_allowance(session, record, chains, owner)
    recent = await chains.solana.latest_blockhash()
    chat_id, epoch = record.chat_id, record.epoch_number
    tx = _funding().grant_tx(
        owner=owner, mint=chains.mint, decimals=chains.decimals,
        authority=chains.claim_authority(chat_id), total=total,
        blockhash=recent.blockhash, memo=f"townsquare:allowance:{chat_id}:{epoch}",
    )  # fmt: skip
    return {"tx": to_wire(tx), "total": str(total)}


async def _solana_confirm(
    session: AsyncSession, record: SettlementRecord, chains: Any, *, body: OwnerIn
) -> dict[str, Any]:
    treasury, total = await _solana_allowance(session, record, chains, _pubkey(body.owner))
    authority = chains.claim_authority(record.chat_id).pubkey()
    allowance = await _funding().check_delegation(
        chains.solana, treasury=treasury, authority=authority, total=total
    )
    record.treasury, record.mint = str(treasury), str(chains.mint)
    record.allowance = str(allowance)
    session.add(record)
    return await _plan(session, record, chains)


Work = Callable[[AsyncSession, SettlementRecord, Any], Awaitable[dict[str, Any]]]


async def _run(request: Request, chat_id: int, epoch: int, work: Work) -> Response:
    try:
        chains = _chains(request)
        async with request.app.state.gateway.sessions() as session:
            record = await _closed(session, chat_id, epoch)
            body = await work(session, record, chains)
            await session.commit()
    except Refusal as error:
        return refuse(error.status, str(error))
    except _funding().FundingError as error:
        return refuse(409, error)
    return JSONResponse(body, headers=HEADERS)


def create_funding_router() -> APIRouter:
    """The funding page and its API, on `request.app.state.gateway` (sessions, chains)."""
    router = APIRouter(tags=["funding"])
    templates = Jinja2Templates(directory=str(TEMPLATES))
    base = "/v1/funding/{chat_id}/{epoch}"

    @router.get(base)
    async def plan(request: Request, chat_id: ChatId, epoch: EpochNumber) -> Response:
        """What the epoch's claims need on each chain, and what is funded already."""
        return await _run(request, chat_id, epoch, _plan)

    @router.post(base + "/evm/prepare")
    async def evm_prepare(
        request: Request, chat_id: ChatId, epoch: EpochNumber, body: OwnerIn
    ) -> Response:
        """The distributor's creation transaction, owned by the manager's address."""
        return await _run(request, chat_id, epoch, partial(_evm_prepare, body=body))

    @router.post(base + "/evm/confirm")
    async def evm_confirm(
        request: Request, chat_id: ChatId, epoch: EpochNumber, body: DistributorIn
    ) -> Response:
        """Records the distributor once the chain shows it holds the EVM total."""
        return await _run(request, chat_id, epoch, partial(_evm_confirm, body=body))

    @router.post(base + "/solana/prepare")
    async def solana_prepare(
        request: Request, chat_id: ChatId, epoch: EpochNumber, body: OwnerIn
    ) -> Response:
        """The approval of the epoch's claim authority, for the manager's wallet to sign."""
        return await _run(request, chat_id, epoch, partial(_solana_prepare, body=body))

    @router.post(base + "/solana/confirm")
    async def solana_confirm(
        request: Request, chat_id: ChatId, epoch: EpochNumber, body: OwnerIn
    ) -> Response:
        """Records the treasury once the chain shows the claim authority's allowance."""
        return await _run(request, chat_id, epoch, partial(_solana_confirm, body=body))

    @router.get("/fund/static/fund.js", include_in_schema=False)
    async def static() -> FileResponse:
        return FileResponse(
            TEMPLATES / "fund" / "fund.js", media_type="text/javascript", headers=HEADERS
        )

    @router.get("/fund/{chat_id}/{epoch}", response_class=HTMLResponse, include_in_schema=False)
    async def page(request: Request, chat_id: ChatId, epoch: EpochNumber) -> Response:
        context = {"chat_id": chat_id, "epoch": epoch}
        response = templates.TemplateResponse(request, "fund/page.html", context)
        response.headers.update(HEADERS)
        return response

    return router
