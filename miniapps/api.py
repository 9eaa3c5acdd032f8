"""The members' Mini App JSON API: points with their reasons, the leaderboard, linked wallets,
the group's enabled apps.

Every route needs a session token (`CurrentMember`). A token from a group launch is bound to
that group; a token from a private launch may read any group the member belongs to, checked
in the database on every call, so that leaving a group also closes its pages.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.models import Chat
from core.models_engagement import Epoch, LedgerEntry
from engagement import board, epochs, sql
from miniapps import registry
from miniapps.deps import CurrentMember, MemberIdentity, is_member, refuse
from wallet import linking

ENTRY_LIMIT = 50
# What the page shows of an entry (`entry_json`): fewer columns to read and convert.
ENTRY_COLUMNS = ("id", "kind", "rule", "points", "cause", "reason", "message_id", "occurred_at")
BOARD_LIMIT = 50
ChatQuery = Annotated[int | None, Query(ge=-(2**63), lt=2**63)]


async def group_for(
    session: AsyncSession, who: MemberIdentity, requested: int | None
) -> int | None:
    """The group a call reads: the token's, or the one asked for if the member is in it."""
    if who.chat_id is not None and requested is not None and requested != who.chat_id:
        raise refuse(403, "wrong_chat")
    chat_id = who.chat_id if who.chat_id is not None else requested
    if chat_id is not None and not await is_member(
        session=session, chat_id=chat_id, member_id=who.member_id
    ):
        raise refuse(403, "not_a_member")
    return chat_id


async def chat_json(session: AsyncSession, chat_id: int) -> dict[str, Any]:
    t = Chat.__table__  # type: ignore[attr-defined]
    title = await sql.scalar(session, select(t.c.title).where(t.c.id == chat_id))
    return {"id": chat_id, "title": title or str(chat_id)}


def epoch_json(epoch: Epoch | None) -> dict[str, Any] | None:
    if epoch is None:
        return None
    return {
        "id": epoch.id,
        "number": epoch.number,
        "state": epoch.state,
        "starts_at": epoch.starts_at.isoformat(),
    }


async def groups_json(session: AsyncSession, member_id: int) -> list[dict[str, Any]]:
    return [
        {"id": g.chat_id, "title": g.title, "epoch_number": g.epoch_number, "points": g.points}
        for g in await board.overview(session=session, member_id=member_id)
    ]


def entry_json(row: Any) -> dict[str, Any]:
    occurred: datetime = row.occurred_at
    return {
        "id": row.id,
        "kind": row.kind,
        "rule": row.rule,
        "points": row.points,
        "cause": row.cause,
        "reason": row.reason,
        "message_id": row.message_id,
        "occurred_at": occurred.isoformat(),
    }


async def points_json(
    session: AsyncSession, *, chat_id: int, epoch: Epoch, member_id: int
) -> dict[str, Any]:
    """The member's score in the epoch: total, rank, sums by kind and rule, newest entries."""
    assert epoch.id is not None
    made = await board.summary(session=session, epoch_id=epoch.id, member_id=member_id)
    newest = await entries_page(session, epoch_id=epoch.id, member_id=member_id, before=None)
    # The totals and the score cache follow the same ledger rows, so they hold the same sum.
    points = made.breakdown.total
    rank = await board.rank(session=session, epoch_id=epoch.id, chat_id=chat_id, points=points)
    return {
        "points": points,
        "rank": rank,
        "by_kind": made.breakdown.by_kind,
        "by_rule": [
            {"rule": r.rule, "points": r.points, "entries": r.entries} for r in made.by_rule
        ],
        "counted_messages": made.breakdown.counted_messages,
        "not_counted": made.breakdown.not_counted,
        **newest,
    }


async def entries_page(
    session: AsyncSession, *, epoch_id: int, member_id: int, before: int | None
) -> dict[str, Any]:
    """One page of the member's ledger entries in the epoch, newest first, older than the
    entry `before` (one of the member's own in this epoch, else 404); `more` when older
    ones remain. A phone gets a page at a time, never the whole ledger."""
    t = LedgerEntry.__table__  # type: ignore[attr-defined]
    mine = [t.c.epoch_id == epoch_id, t.c.member_id == member_id]
    if before is not None:
        anchor = await sql.rows(session, select(t.c.occurred_at).where(*mine, t.c.id == before))
        if not anchor:
            raise refuse(404, "no_such_entry")
        at = anchor[0][0]
        mine.append((t.c.occurred_at < at) | ((t.c.occurred_at == at) & (t.c.id < before)))
    rows = await sql.rows(
        session,
        select(*(t.c[name] for name in ENTRY_COLUMNS))
        .where(*mine)
        .order_by(t.c.occurred_at.desc(), t.c.id.desc())
        .limit(ENTRY_LIMIT + 1),
    )
    return {
        "entries": [entry_json(row) for row in rows[:ENTRY_LIMIT]],
        "more": len(rows) > ENTRY_LIMIT,
    }


async def wallets_json(session: AsyncSession, member_id: int) -> dict[str, Any]:
    """The member's linked wallets (addresses only: there is nothing secret to show)."""
    links = await linking.active_links(session=session, member_id=member_id)
    return {
        "wallets": [
            {
                "id": link.id,
                "family": link.chain_family,
                "address": link.address,
                "chain_id": link.chain_id,
                "is_primary": link.is_primary,
                "linked_at": link.linked_at.isoformat(),
            }
            for link in links
        ]
    }


def create_api_router() -> APIRouter:
    router = APIRouter(prefix="/miniapp/api", tags=["miniapps"])

    @router.get("/points")
    async def points(request: Request, who: CurrentMember, chat_id: ChatQuery = None) -> Any:
        async with request.app.state.gateway.sessions() as session:
            chat = await group_for(session, who, chat_id)
            body: dict[str, Any] = {"member_id": who.member_id, "chat": None, "epoch": None}
            if chat is None:
                return {**body, "groups": await groups_json(session, who.member_id)}
            epoch = await epochs.current(session=session, chat_id=chat)
            body.update(chat=await chat_json(session, chat), epoch=epoch_json(epoch))
            if epoch is None:
                return {
                    **body,
                    "points": 0,
                    "rank": None,
                    "by_kind": {},
                    "by_rule": [],
                    "counted_messages": 0,
                    "not_counted": {},
                    "entries": [],
                    "more": False,
                }
            return body | await points_json(
                session, chat_id=chat, epoch=epoch, member_id=who.member_id
            )

    @router.get("/points/entries")
    async def points_entries(
        request: Request,
        who: CurrentMember,
        before: Annotated[int, Query(ge=1, lt=2**63)],
        chat_id: ChatQuery = None,
    ) -> Any:
        """The next page of the member's ledger entries in the open epoch ("more")."""
        async with request.app.state.gateway.sessions() as session:
            chat = await group_for(session, who, chat_id)
            if chat is None:
                raise refuse(400, "chat_required")
            epoch = await epochs.current(session=session, chat_id=chat)
            if epoch is None or epoch.id is None:
                raise refuse(404, "no_such_entry")
            return await entries_page(
                session, epoch_id=epoch.id, member_id=who.member_id, before=before
            )

    @router.get("/leaderboard")
    async def leaderboard(request: Request, who: CurrentMember, chat_id: ChatQuery = None) -> Any:
        async with request.app.state.gateway.sessions() as session:
            chat = await group_for(session, who, chat_id)
            if chat is None:
                return {
                    "chat": None,
                    "epoch": None,
                    "rows": [],
                    "groups": await groups_json(session, who.member_id),
                }
            epoch = await epochs.current(session=session, chat_id=chat)
            rows: list[dict[str, Any]] = []
            if epoch is not None and epoch.id is not None:
                top = await board.leaderboard(
                    session=session, epoch_id=epoch.id, chat_id=chat, limit=BOARD_LIMIT
                )
                rank = 0
                for position, row in enumerate(top, start=1):
                    if position == 1 or row.points != top[position - 2].points:
                        rank = position
                    rows.append(
                        {
                            "rank": rank,
                            "member_id": row.member_id,
                            "name": row.name,
                            "points": row.points,
                            "me": row.member_id == who.member_id,
                        }
                    )
            return {
                "chat": await chat_json(session, chat),
                "epoch": epoch_json(epoch),
                "rows": rows,
            }

    @router.get("/wallets")
    async def wallets(request: Request, who: CurrentMember) -> Any:
        async with request.app.state.gateway.sessions() as session:
            return await wallets_json(session, who.member_id)

    @router.get("/apps")
    async def apps(request: Request, who: CurrentMember, chat_id: ChatQuery = None) -> Any:
        async with request.app.state.gateway.sessions() as session:
            chat = await group_for(session, who, chat_id)
            body = {"chat": await chat_json(session, chat) if chat is not None else None}
            enabled = (
                [] if chat is None else await registry.catalogue(session=session, chat_id=chat)
            )
        return body | {
            "apps": [{"id": a.id, "name": a.name, "url": a.url, "cap": a.cap} for a in enabled]
        }

    return router
