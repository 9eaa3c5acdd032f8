"""CSV exports for managers: an epoch's ledger and scores, and the group's daily activity.

Cells that a spreadsheet would read as a formula (names starting with `=`, `+`, `-`, `@`) are
prefixed with a quote: a member's name must never run in the manager's spreadsheet.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import utcnow
from core.models_engagement import Epoch, Score, Standing
from engagement import analytics, ledger, sql
from miniapps.dashboard_auth import CurrentManager
from miniapps.dashboard_render import last_epoch, names, problems

FORMULA = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA):
        return "'" + value
    return "" if value is None else value


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([cell(v) for v in row] for row in rows)
    return out.getvalue()


def download(body: str, filename: str) -> Response:
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def no_epoch(request: Request) -> Response:
    return problems(request, ["no such epoch"], status=404)


async def standings(db: AsyncSession, chat_id: int, epoch: Epoch) -> list[Any]:
    """`(member, points, standing)` of every scored member of the epoch, highest first."""
    s = Score.__table__  # type: ignore[attr-defined]
    st = Standing.__table__  # type: ignore[attr-defined]
    return await sql.rows(
        db,
        select(s.c.member_id, s.c.points, st.c.status)
        .select_from(s.outerjoin(st, (st.c.chat_id == chat_id) & (st.c.member_id == s.c.member_id)))
        .where(s.c.epoch_id == epoch.id)
        .order_by(s.c.points.desc(), s.c.member_id),
    )


async def activity(request: Request, chat_id: int) -> analytics.Analytics:
    """The group's activity figures (no epoch's scores)."""
    async with request.app.state.gateway.sessions() as db:
        return await analytics.collect(
            session=db, chat_id=chat_id, epoch=None, today=utcnow().date()
        )


def create_export_router() -> APIRouter:
    router = APIRouter(prefix="/miniapp/dashboard/export", tags=["dashboard"])
    epoch_query = Query(default=None, ge=1, lt=2**31)

    @router.get("/ledger.csv")
    async def ledger_csv(
        request: Request, who: CurrentManager, epoch: int | None = epoch_query
    ) -> Response:
        """Every ledger entry of the epoch (by default the last), with its cause."""
        async with request.app.state.gateway.sessions() as db:
            target = await last_epoch(db, who.chat_id, epoch)
            if target is None:
                return no_epoch(request)
            rows = [r async for r in ledger.export(session=db, chat_id=who.chat_id, epoch=target)]
        body = to_csv(ledger.EXPORT_COLUMNS, ([r[c] for c in ledger.EXPORT_COLUMNS] for r in rows))
        return download(body, f"ledger_{who.chat_id}_{target.number}.csv")

    @router.get("/scores.csv")
    async def scores_csv(
        request: Request, who: CurrentManager, epoch: int | None = epoch_query
    ) -> Response:
        """Each member's score in the epoch, highest first, with their standing."""
        async with request.app.state.gateway.sessions() as db:
            target = await last_epoch(db, who.chat_id, epoch)
            if target is None:
                return no_epoch(request)
            found = await standings(db, who.chat_id, target)
            named = await names(db, (int(m) for m, _, _ in found))
        body = to_csv(
            ("epoch", "member_id", "name", "points", "standing"),
            ((target.number, m, named[int(m)], p, status or "") for m, p, status in found),
        )
        return download(body, f"scores_{who.chat_id}_{target.number}.csv")

    @router.get("/analytics.csv")
    async def analytics_csv(request: Request, who: CurrentManager) -> Response:
        """Messages and active members per day over the last 30 days."""
        found = await activity(request, who.chat_id)
        body = to_csv(
            ("day", "messages", "active_members"),
            ((d.day.isoformat(), d.messages, d.active_members) for d in found.days),
        )
        return download(body, f"activity_{who.chat_id}.csv")

    @router.get("/retention.csv")
    async def retention_csv(request: Request, who: CurrentManager) -> Response:
        """Members of each join week, and how many of them wrote in each of their first weeks."""
        found = await activity(request, who.chat_id)
        body = to_csv(
            ("join_week", "members", *(f"week_{k}" for k in range(analytics.WEEKS))),
            ((c.week.isoformat(), c.size, *c.active) for c in found.cohorts),
        )
        return download(body, f"retention_{who.chat_id}.csv")

    return router
