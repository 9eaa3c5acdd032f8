"""What the dashboard's routes share: one answer as JSON or as a server-rendered fragment, the
group's epochs, and members' display names.

The page asks for `text/html` and inserts the fragment; API clients and the tests ask for
`application/json` and get the same facts as data. Templates autoescape, so names, reasons and
titles stay text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.models import Chat, Member
from core.models_engagement import Epoch
from engagement import board, epochs, sql
from miniapps.member import TEMPLATES, headers

templates = Jinja2Templates(directory=TEMPLATES)


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def answer(
    request: Request,
    template: str,
    data: Mapping[str, Any],
    *,
    status: int = 200,
    context: Mapping[str, Any] | None = None,
) -> Response:
    """`data` as JSON, or the fragment `template` rendered with `data` and `context`."""
    if wants_json(request):
        return JSONResponse(dict(data), status)
    response = templates.TemplateResponse(
        request,
        f"miniapps/{template}",
        {**data, **(context or {})},
        status_code=status,
        headers=headers(request.app.state.gateway.settings),
    )
    assert isinstance(response, HTMLResponse)
    return response


def problems(request: Request, items: list[str], *, status: int = 422) -> Response:
    """A refusal the manager can read: each problem on its own line."""
    return answer(
        request, "dashboard_problems.html", {"reason": "invalid", "problems": items}, status=status
    )


async def names(session: AsyncSession, member_ids: Iterable[int]) -> dict[int, str]:
    """Display names of members, by id (the id itself for members never seen)."""
    ids = sorted(set(member_ids))
    if not ids:
        return {}
    m = Member.__table__  # type: ignore[attr-defined]
    rows = await sql.rows(
        session, select(m.c.id, m.c.first_name, m.c.username).where(m.c.id.in_(ids))
    )
    found = {int(i): board.display_name(int(i), f, u) for i, f, u in rows}
    return {i: found.get(i, str(i)) for i in ids}


async def chat_title(session: AsyncSession, chat_id: int) -> str:
    chat = await session.get(Chat, chat_id)
    return (chat.title if chat else None) or str(chat_id)


async def last_epoch(
    session: AsyncSession, chat_id: int, number: int | None = None
) -> Epoch | None:
    """Epoch `number`, or by default the newest that has ended (the open one before any has)."""
    listing = await epochs.listing(session=session, chat_id=chat_id)
    if number is not None:
        return next((e for e in listing if e.number == number), None)
    ended = [e for e in listing if e.state != epochs.OPEN]
    if ended:
        return ended[-1]
    return await epochs.current(session=session, chat_id=chat_id)


def epoch_json(epoch: Epoch) -> dict[str, Any]:
    return {
        "number": epoch.number,
        "state": epoch.state,
        "starts_at": epoch.starts_at.isoformat(),
        "ends_at": epoch.ends_at.isoformat() if epoch.ends_at else None,
    }
