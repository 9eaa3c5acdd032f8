"""Which builder apps a group has enabled, and the cap on the points each may give.

A manager enables an app in a group (`/enableapp` in the bot); events from an app a group has
not enabled are refused, and an enabled app's events give a member at most `cap` points in one
epoch. Disabling keeps the row with a time stamp, so enabling again restores it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import utcnow
from core.models_builder import GroupApp
from core.models_miniapps import MiniApp

DEFAULT_CAP = 100
MAX_CAP = 1_000_000


class RegistryError(ValueError):
    """An app that cannot be enabled here; `reason` is a stable code for texts and the API."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CatalogueApp:
    id: str
    name: str
    url: str
    cap: int


async def live_app(*, session: AsyncSession, app_id: str) -> MiniApp | None:
    app = await session.get(MiniApp, app_id[:32])
    return app if app is not None and app.revoked_at is None else None


async def enable(
    *, session: AsyncSession, chat_id: int, app_id: str, cap: int, by: int | None
) -> GroupApp:
    """Enables (or re-enables, or re-caps) an app in a group.

    Raises:
        RegistryError: `unknown_app` for an app that does not exist or was revoked,
            `bad_cap` for a cap outside 0..MAX_CAP.
    """
    if not 0 <= cap <= MAX_CAP:
        raise RegistryError("bad_cap")
    if await live_app(session=session, app_id=app_id) is None:
        raise RegistryError("unknown_app")
    row = await session.get(GroupApp, (chat_id, app_id))
    if row is None:
        row = GroupApp(chat_id=chat_id, app_id=app_id, cap=cap, enabled_by=by)
    else:
        row.cap, row.enabled_by, row.enabled_at, row.disabled_at = cap, by, utcnow(), None
    session.add(row)
    await session.flush()
    return row


async def disable(*, session: AsyncSession, chat_id: int, app_id: str) -> bool:
    """Disables an app in a group; False when it was not enabled there."""
    row = await session.get(GroupApp, (chat_id, app_id[:32]))
    if row is None or row.disabled_at is not None:
        return False
    row.disabled_at = utcnow()
    session.add(row)
    await session.flush()
    return True


async def enabled(*, session: AsyncSession, chat_id: int, app_id: str) -> GroupApp | None:
    """The group's grant for the app, or None when the app is not enabled there now."""
    row = await session.get(GroupApp, (chat_id, app_id[:32]))
    return row if row is not None and row.disabled_at is None else None


async def catalogue(*, session: AsyncSession, chat_id: int) -> list[CatalogueApp]:
    """The live apps a group has enabled, by name."""
    stmt = (
        select(MiniApp.id, MiniApp.name, MiniApp.url, GroupApp.cap)
        .join(GroupApp, col(GroupApp.app_id) == col(MiniApp.id))
        .where(
            col(GroupApp.chat_id) == chat_id,
            col(GroupApp.disabled_at).is_(None),
            col(MiniApp.revoked_at).is_(None),
        )
        .order_by(col(MiniApp.name), col(MiniApp.id))
    )
    return [CatalogueApp(*row) for row in (await session.exec(stmt)).all()]
