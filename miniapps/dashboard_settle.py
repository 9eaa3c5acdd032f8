"""The dashboard's campaigns, epochs (close, preview the allocation, publish) and the review
of sybil flags. Settling goes through `engagement.settle_service`, like the CLI, in one
transaction: a refusal leaves the epoch as it was."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlmodel import col, select

from core.clock import utcnow
from core.db import transaction
from core.models import Chat
from core.models import Member as MemberRow
from core.models_claims import Settlement as SettlementRecord
from core.models_claims import SettlementRow
from engagement import epochs, review, settle_service, sybil
from engagement.settlement import AllocationParams, SettlementError
from miniapps.dashboard_auth import CurrentManager, Manager
from miniapps.dashboard_render import answer, epoch_json, names, problems

Number = Path(ge=1, lt=2**31)
Member = Path(ge=-(2**63), lt=2**63)
PREVIEW_ROWS = 200


class CloseIn(BaseModel):
    pool: int = Field(gt=0, lt=2**256)
    min_score: int = Field(default=0, ge=0, lt=2**63)
    cap_share: str | None = Field(default=None, pattern=r"^(0(\.[0-9]{1,18})?|1(\.0{1,18})?)$")
    transform: Literal["linear", "sqrt"] = "linear"


class PublishIn(BaseModel):
    distributor: str | None = Field(default=None, max_length=66)
    chain_id: str | None = Field(default=None, max_length=32, pattern=r"^[0-9]+$")
    treasury: str | None = Field(default=None, max_length=64)
    mint: str | None = Field(default=None, max_length=64)
    allowance: int | None = Field(default=None, ge=0, lt=2**64)


class CampaignIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)


class DecisionIn(BaseModel):
    action: Literal["exclude", "clear"]
    reason: str = Field(default="", max_length=256)


def record_json(record: SettlementRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {
        "state": record.state,
        "pool": record.pool,
        "params": record.params,
        "evm_root": record.evm_root,
        "solana_root": record.solana_root,
        "held_back": record.held_back,
        "ledger_digest": record.ledger_digest,
    }


async def allocation(db: Any, chat_id: int, number: int) -> dict[str, Any] | None:
    """A settled epoch's claims, largest first: what publishing would make claimable."""
    record = await settle_service.find(session=db, chat_id=chat_id, number=number)
    if record is None:
        return None
    stmt = select(SettlementRow).where(col(SettlementRow.settlement_id) == record.id)
    rows = sorted((await db.exec(stmt)).all(), key=lambda r: (-int(r.amount), r.member_id))
    named = await names(db, [*(r.member_id for r in rows), *map(int, record.unlinked or {})])
    return {
        "number": number,
        "settlement": record_json(record),
        "claims": [
            {
                "member_id": r.member_id,
                "name": named[r.member_id],
                "chain": r.chain,
                "account": r.account,
                "amount": r.amount,
            }
            for r in rows[:PREVIEW_ROWS]
        ],
        "claim_count": len(rows),
        "unlinked": [
            {"member_id": int(m), "name": named[int(m)], "amount": a}
            for m, a in sorted((record.unlinked or {}).items())
        ],
    }


@dataclass(frozen=True)
class ReviewNotice:
    """A decision on a member, to tell them of: `action` is "exclude" or "clear"."""

    member_id: int
    language_code: str | None
    chat_title: str
    action: str
    reason: str


ReviewNotifier = Callable[[Any, ReviewNotice], Awaitable[bool]]
"""Called as ``notify(bot, notice)`` after a decision is committed; True when the member was
told (they may never have started a chat with the bot)."""


def create_settle_router(*, notify: ReviewNotifier | None = None) -> APIRouter:
    """The epochs, settlement and flags pages; `notify` tells a member of a decision on them."""
    router = APIRouter(prefix="/miniapp/dashboard", tags=["dashboard"])

    async def listing(request: Request, who: CurrentManager, **extra: Any) -> Response:
        async with request.app.state.gateway.sessions() as db:
            found = await epochs.listing(session=db, chat_id=who.chat_id)
            rows = []
            for epoch in reversed(found):
                record = await settle_service.find(
                    session=db, chat_id=who.chat_id, number=epoch.number
                )
                rows.append(epoch_json(epoch) | {"settlement": record_json(record)})
        return answer(request, "dashboard_epochs.html", {"epochs": rows, **extra})

    @router.get("/epochs")
    async def show_epochs(request: Request, who: CurrentManager) -> Response:
        return await listing(request, who)

    @router.get("/epochs/{number}")
    async def show_allocation(
        request: Request, who: CurrentManager, number: int = Number
    ) -> Response:
        async with request.app.state.gateway.sessions() as db:
            found = await allocation(db, who.chat_id, number)
        if found is None:
            return problems(request, [f"epoch {number} is not closed yet"], status=404)
        return answer(request, "dashboard_allocation.html", found)

    @router.post("/epochs/{number}/close")
    async def close(
        request: Request, who: CurrentManager, body: CloseIn, number: int = Number
    ) -> Response:
        params = AllocationParams(body.pool, body.min_score, body.cap_share, body.transform)
        try:
            async with transaction(request.app.state.gateway.sessions) as db:
                await settle_service.close(
                    session=db, chat_id=who.chat_id, number=number, params=params,
                    files=request.app.state.gateway.settings.data_dir,
                )  # fmt: skip
        except SettlementError as exc:
            return problems(request, [str(exc)], status=409)
        async with request.app.state.gateway.sessions() as db:
            found = await allocation(db, who.chat_id, number)
        assert found is not None
        return answer(request, "dashboard_allocation.html", found)

    @router.post("/epochs/{number}/publish")
    async def publish(
        request: Request, who: CurrentManager, body: PublishIn, number: int = Number
    ) -> Response:
        try:
            async with transaction(request.app.state.gateway.sessions) as db:
                await settle_service.publish(
                    session=db, chat_id=who.chat_id, number=number, **body.model_dump()
                )
        except SettlementError as exc:
            return problems(request, [str(exc)], status=409)
        return await listing(request, who, published=number)

    @router.post("/campaigns")
    async def campaign(request: Request, who: CurrentManager, body: CampaignIn) -> Response:
        """Starts a campaign: the open epoch closes and the campaign's first epoch opens."""
        try:
            async with transaction(request.app.state.gateway.sessions) as db:
                await epochs.start_campaign(session=db, chat_id=who.chat_id, name=body.name)
        except epochs.EpochError as exc:
            return problems(request, [str(exc)], status=409)
        return await listing(request, who, started=body.name)

    async def flags_view(request: Request, who: CurrentManager, **extra: Any) -> Response:
        async with request.app.state.gateway.sessions() as db:
            found = await review.open_flags(session=db, chat_id=who.chat_id)
        data = {
            "flags": [
                {
                    "member_id": f.member_id,
                    "name": f.name,
                    "excluded": f.excluded,
                    "codes": [{"code": c, "detail": d} for c, d in f.codes],
                }
                for f in found
            ],
            **extra,
        }
        return answer(request, "dashboard_flags.html", data)

    @router.get("/flags")
    async def show_flags(request: Request, who: CurrentManager) -> Response:
        return await flags_view(request, who)

    @router.post("/flags/scan")
    async def scan(request: Request, who: CurrentManager) -> Response:
        """Runs the sybil detectors over the last days now."""
        async with transaction(request.app.state.gateway.sessions) as db:
            epoch = await epochs.current(session=db, chat_id=who.chat_id)
            found = []
            if epoch is not None and epoch.id is not None:
                found = await sybil.scan(
                    session=db, chat_id=who.chat_id, epoch_id=epoch.id, now=utcnow()
                )
        return await flags_view(request, who, scanned=len(found))

    @router.post("/flags/{member_id}")
    async def decide(
        request: Request, who: CurrentManager, body: DecisionIn, member_id: int = Member
    ) -> Response:
        """Excludes a member from allocation (a reason is required), or clears them."""
        reason = body.reason.strip()
        if body.action == "exclude" and not reason:
            return problems(request, ["say why the member is excluded"])
        told = await decide_and_tell(
            request.app.state.gateway, who, member_id, body.action, reason, notify=notify
        )
        return await flags_view(
            request, who, decided={"member_id": member_id, "action": body.action, "told": told}
        )

    return router


async def decide_and_tell(
    gateway: Any,
    who: Manager,
    member_id: int,
    action: str,
    reason: str,
    *,
    notify: ReviewNotifier | None,
) -> bool:
    """Records the decision, then tells the member (as `/exclude` in the chat does); whether
    they could be told."""
    async with transaction(gateway.sessions) as db:
        await review.decide(
            session=db,
            chat_id=who.chat_id,
            member_id=member_id,
            status=review.EXCLUDED if action == "exclude" else review.CLEARED,
            by=who.member_id,
            reason=reason,
        )
        member = await db.get(MemberRow, member_id)
        chat = await db.get(Chat, who.chat_id)
    if notify is None:
        return False
    notice = ReviewNotice(
        member_id=member_id,
        language_code=member.language_code if member is not None else None,
        chat_title=(chat.title if chat is not None else None) or "",
        action=action,
        reason=reason,
    )
    return await notify(gateway.bot, notice)
