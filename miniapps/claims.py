"""Published settlements over HTTP: artefacts, proof lookups, the claim page, Solana claim txs.

Everything here is public once an epoch is published (the claims file lists every proof
anyway); nothing is served before. Claim transactions need the member's own signature, so
preparing one for someone else's wallet gives nothing away.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import orjson
from fastapi import APIRouter, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from core.models_claims import Settlement
from engagement import settle_service
from engagement.settlement_files import resolve
from wallet import settlement_store as store
from wallet.settlement_proofs import claim_calldata
from wallet.solana_claims import AllowanceTooSmall, AlreadyClaimed, ClaimError

if TYPE_CHECKING:
    from web3 import AsyncWeb3

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
STATIC = {"claim.js": "text/javascript", "claim.css": "text/css"}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}

SolanaPayoutFactory = Callable[[Any, Settlement], store.SolanaPayout | None]
EvmClientFactory = Callable[[Any, Settlement], "AsyncWeb3 | None"]


class ChainUnavailable(Exception):
    """The chain a claim needs is not up yet (the sandbox's chains start in the background)."""


def default_solana_payout(gateway: Any, record: Settlement) -> store.SolanaPayout | None:
    """The payout of the gateway's own chains (`gateway.chains`), if it runs any."""
    chains = getattr(gateway, "chains", None)
    return chains.solana_payout(record) if chains is not None else None


class PrepareIn(BaseModel):
    owner: str = Field(min_length=32, max_length=44)


class ConfirmIn(BaseModel):
    account: str = Field(min_length=32, max_length=64)
    tx_hash: str = Field(min_length=32, max_length=128)


# Path numbers within what the database columns hold: larger ones are simply not found.
ChatId = Annotated[int, PathParam(ge=-(2**63), lt=2**63)]
EpochNumber = Annotated[int, PathParam(ge=0, lt=2**31)]


def default_evm_client(gateway: Any, record: Settlement) -> AsyncWeb3 | None:
    chains = getattr(gateway, "chains", None)
    if chains is not None and (w3 := chains.evm_client(record)) is not None:
        return w3  # type: ignore[no-any-return]
    url = gateway.settings.evm_rpc_urls.get(record.chain_id or "")
    if not url:
        return None
    from web3 import AsyncHTTPProvider, AsyncWeb3  # heavy: imported on first use, not at start-up

    return AsyncWeb3(AsyncHTTPProvider(url))


def chain_notice(gateway: Any) -> str:
    """Why the gateway's chains cannot take claims yet, or "" when they can (or it has none)."""
    chains = getattr(gateway, "chains", None)
    if chains is None:
        return ""
    try:
        chains.require()
    except ChainUnavailable as error:
        return str(error)
    return ""


def chain_endpoints(gateway: Any) -> dict[str, Any]:
    """The RPC endpoints of the gateway's own chains, for wallets to add; empty without them."""
    chains = getattr(gateway, "chains", None)
    if chains is None or chain_notice(gateway):
        return {}
    return dict(chains.describe())


def refuse(status: int, error: Exception | str) -> JSONResponse:
    """A JSON refusal `{"detail": ...}` with the pages' security headers."""
    return JSONResponse({"detail": str(error)}, status_code=status, headers=HEADERS)


def create_claims_router(  # noqa: C901, PLR0915 (one closure per route)
    *,
    solana_payout: SolanaPayoutFactory | None = default_solana_payout,
    evm_client: EvmClientFactory = default_evm_client,
) -> APIRouter:
    """Routes of published settlements on `request.app.state.gateway` (settings, sessions).

    Args:
        solana_payout: Gives the chain, mint, treasury and claim authority of a settlement;
            without it (or when it gives none) Solana claims answer 503.
        evm_client: Gives an `AsyncWeb3` for a settlement's EVM chain (for confirmations).
    """
    router = APIRouter(tags=["claims"])
    published: dict[tuple[int, int], Settlement] = {}
    templates = Jinja2Templates(directory=str(TEMPLATES))

    async def artefact(
        request: Request, chat_id: ChatId, epoch: EpochNumber, name: str
    ) -> Response:
        async with request.app.state.gateway.sessions() as session:
            try:
                record = await store.published(session=session, chat_id=chat_id, number=epoch)
            except store.ClaimLookupError as error:
                return refuse(404, error)
            found = await settle_service.artefact(
                session=session, settlement_id=record.id or 0, name=name
            )
        if found is None:
            return refuse(404, f"epoch {epoch} has no {name}")
        headers = {**HEADERS, "Cache-Control": "public, max-age=300"}
        if found.path is None:
            return Response(found.body, media_type=found.media_type, headers=headers)
        try:  # a dump or claims file kept on disk: streamed, never read into memory
            path = resolve(request.app.state.gateway.settings.data_dir, found.path)
        except FileNotFoundError:
            return refuse(404, f"the {name} file of epoch {epoch} is missing on this gateway")
        return FileResponse(path, media_type=found.media_type, headers=headers)

    @router.get("/epochs/{chat_id}/{epoch}/dump.json")
    async def dump(
        request: Request,
        chat_id: ChatId,
        epoch: EpochNumber,
        chain: Literal["evm", "solana"] = "evm",
    ) -> Response:
        """The chain's OpenZeppelin `standard-v1` tree dump."""
        return await artefact(request, chat_id, epoch, f"{chain}/dump.json")

    @router.get("/epochs/{chat_id}/{epoch}/claims.json")
    async def claims(
        request: Request,
        chat_id: ChatId,
        epoch: EpochNumber,
        chain: Literal["evm", "solana"] = "evm",
    ) -> Response:
        """The chain's Uniswap-shaped claims file."""
        return await artefact(request, chat_id, epoch, f"{chain}/claims.json")

    @router.get("/epochs/{chat_id}/{epoch}/rules.json")
    async def rules(request: Request, chat_id: ChatId, epoch: EpochNumber) -> Response:
        """Allocation parameters, exclusions, wallets and scoring rules of the settlement."""
        return await artefact(request, chat_id, epoch, "rules.json")

    @router.get("/epochs/{chat_id}/{epoch}/ledger.jsonl")
    async def ledger(request: Request, chat_id: ChatId, epoch: EpochNumber) -> Response:
        """The canonical ledger export whose sha256 is the settlement's ledger digest."""
        return await artefact(request, chat_id, epoch, "ledger.jsonl")

    @router.get("/v1/claims/{chat_id}/{epoch}/proof/{address}")
    async def proof(
        request: Request, chat_id: ChatId, epoch: EpochNumber, address: str
    ) -> Response:
        """The claim of one address: index, amount, proof, root, and the EVM call to send."""
        sessions = request.app.state.gateway.sessions
        try:
            record = published.get((chat_id, epoch))
            if record is None:
                async with sessions() as session:
                    record = await store.published(session=session, chat_id=chat_id, number=epoch)
                # A published settlement never changes: keep it for later lookups.
                published[chat_id, epoch] = record
            row, nodes = await store.published_proof(
                sessions=sessions, record=record, account=address
            )
        except store.ClaimLookupError as error:
            return refuse(404, error)
        body: dict[str, Any] = {
            "chain": row.chain,
            "index": row.index,
            "account": row.account,
            "amount": row.amount,
            "proof": nodes,
            "root": record.evm_root if row.chain == "evm" else record.solana_root,
        }
        if row.chain == "evm":
            body["distributor"] = record.distributor
            body["chain_id"] = record.chain_id
            body["calldata"] = claim_calldata(row.index, row.account, int(row.amount), nodes)
        return Response(orjson.dumps(body), media_type="application/json", headers=HEADERS)

    @router.post("/v1/claims/{chat_id}/{epoch}/solana/prepare")
    async def prepare(
        request: Request, chat_id: ChatId, epoch: EpochNumber, body: PrepareIn
    ) -> Response:
        """The member's live claim transaction (base64), partially signed by the claim authority."""
        gateway = request.app.state.gateway
        async with gateway.sessions() as session:
            try:
                record = await store.published(session=session, chat_id=chat_id, number=epoch)
                payout = solana_payout(gateway, record) if solana_payout else None
                if payout is None:
                    return refuse(503, "Solana claims are not configured on this gateway")
                claim = await store.prepare_solana(
                    session=session, chat_id=chat_id, number=epoch, owner=body.owner, payout=payout
                )
                await session.commit()
            except store.ClaimLookupError as error:
                return refuse(404, error)
            except AlreadyClaimed as error:
                return refuse(409, error)
            except (AllowanceTooSmall, ChainUnavailable) as error:
                return refuse(503, error)
        out = {
            "tx": claim.tx,
            "amount": claim.amount,
            "blockhash": claim.blockhash,
            "last_valid_block_height": claim.last_valid_height,
        }
        return JSONResponse(out, headers=HEADERS)

    @router.post("/v1/claims/{chat_id}/{epoch}/confirm")
    async def confirm(
        request: Request, chat_id: ChatId, epoch: EpochNumber, body: ConfirmIn
    ) -> Response:
        """Records a claim after checking the chain (distributor or Solana signature)."""
        gateway = request.app.state.gateway
        async with gateway.sessions() as session:
            try:
                record, row = await store.lookup(
                    session=session, chat_id=chat_id, number=epoch, account=body.account
                )
                if row.chain == "evm":
                    w3 = evm_client(gateway, record)
                    if w3 is None:
                        return refuse(503, "no RPC endpoint for this epoch's EVM chain")
                    claim = await store.confirm_evm(
                        session=session, chat_id=chat_id, number=epoch,
                        account=body.account, tx_hash=body.tx_hash, w3=w3,
                    )  # fmt: skip
                else:
                    payout = solana_payout(gateway, record) if solana_payout else None
                    if payout is None:
                        return refuse(503, "Solana claims are not configured on this gateway")
                    claim = await store.confirm_solana(
                        session=session, chat_id=chat_id, number=epoch, owner=body.account,
                        signature=body.tx_hash, chain=payout.chain,
                    )  # fmt: skip
                await session.commit()
            except store.ClaimLookupError as error:
                return refuse(404, error)
            except ChainUnavailable as error:
                return refuse(503, error)
            except (ClaimError, ValueError) as error:
                return refuse(409, error)
        return JSONResponse({"status": claim.status, "tx_hash": claim.tx_hash}, headers=HEADERS)

    @router.get("/claim/static/{name}", include_in_schema=False)
    async def static(name: str) -> FileResponse:
        if name not in STATIC:
            raise HTTPException(status_code=404, detail="Not Found")
        return FileResponse(TEMPLATES / "claim" / name, media_type=STATIC[name], headers=HEADERS)

    @router.get("/claim/{chat_id}/{epoch}", response_class=HTMLResponse, include_in_schema=False)
    async def page(request: Request, chat_id: ChatId, epoch: EpochNumber) -> Response:
        context: dict[str, Any] = {"chat_id": chat_id, "epoch": epoch}
        status = 200
        async with request.app.state.gateway.sessions() as session:
            try:
                record = await store.published(session=session, chat_id=chat_id, number=epoch)
            except store.ClaimLookupError as error:
                context["error"], status = str(error), 404
            else:
                context.update(
                    chain_notice=chain_notice(request.app.state.gateway),
                    endpoints=chain_endpoints(request.app.state.gateway),
                    evm_root=record.evm_root,
                    solana_root=record.solana_root,
                    distributor=record.distributor or "",
                    chain_id=record.chain_id or "",
                )
        response = templates.TemplateResponse(
            request, "claim/page.html", context, status_code=status
        )
        response.headers.update(HEADERS)
        return response

    return router
