"""Database helpers for the gateway's own tables. Each takes `*, session` and never commits."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import bindparam, func, or_, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel.ext.asyncio.session import AsyncSession

from core import bulk
from core.clock import utcnow
from core.models import Chat, ChatMessage, Member, Membership, ProcessedUpdate


def _insert(session: AsyncSession, table: Any) -> Any:
    module = postgresql if _dialect(session) == "postgresql" else sqlite
    return module.insert(table)


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


@functools.cache
def _insert_once(dialect: str, model: Any, columns: tuple[str, ...]) -> Any:
    """An `INSERT ... ON CONFLICT DO NOTHING` of the named columns, built once per dialect and
    run with parameters: on the per-update path, building a statement costs more than running
    it."""
    table = model.__table__
    module = postgresql if dialect == "postgresql" else sqlite
    values = {name: bindparam(name, type_=table.c[name].type) for name in columns}
    return module.insert(table).values(values).on_conflict_do_nothing()


async def _insert_new(session: AsyncSession, model: Any, values: dict[str, Any]) -> bool:
    """Inserts a row unless its key exists; True if it was inserted."""
    stmt = _insert_once(_dialect(session), model, tuple(values))
    connection = await session.connection()
    return bool((await connection.execute(stmt, values)).rowcount)


async def mark_update(*, session: AsyncSession, bot_id: int, update_id: int, kind: str) -> bool:
    """Records an update as handled; returns False if it was recorded before."""
    values = {"bot_id": bot_id, "update_id": update_id, "kind": kind, "processed_at": utcnow()}
    return await _insert_new(session, ProcessedUpdate, values)


@functools.cache
def _insert_many(
    dialect: str, model: Any, columns: tuple[str, ...], returning: tuple[str, ...]
) -> tuple[Any, bulk.RowSource]:
    """An `INSERT ... ON CONFLICT DO NOTHING RETURNING` of the named columns of a batch of rows
    bound as one `RowSource` parameter, and that source. (SQLAlchemy's own many-row INSERT with
    RETURNING writes the statement's SQL afresh for each batch, in Python, which cost the
    gateway more per batch than the batch's claim itself.)"""
    table = model.__table__
    source = bulk.row_source(dialect, "rows", tuple(table.c[name] for name in columns))
    rows = source.subquery
    module = postgresql if dialect == "postgresql" else sqlite
    # The WHERE keeps SQLite from reading ON CONFLICT as part of the SELECT's join.
    picked = select(*(rows.c[name] for name in columns)).where(true())
    stmt = module.insert(table).from_select(list(columns), picked).on_conflict_do_nothing()
    return stmt.returning(*(table.c[name] for name in returning)), source


async def mark_updates(
    *, session: AsyncSession, updates: list[tuple[int, int, str]]
) -> set[tuple[int, int]]:
    """Records `(bot_id, update_id, kind)` updates as handled in one round trip; returns the
    `(bot_id, update_id)` of those recorded just now (an update listed twice, once)."""
    if not updates:
        return set()
    now = utcnow()
    stmt, source = _insert_many(
        _dialect(session),
        ProcessedUpdate,
        ("bot_id", "update_id", "kind", "processed_at"),
        ("bot_id", "update_id"),
    )
    connection = await session.connection()
    stored = await source.fetch(connection, stmt, [[b, u, k, now] for b, u, k in updates])
    return {(int(bot_id), int(update_id)) for bot_id, update_id in stored}


async def upsert_member(
    *,
    session: AsyncSession,
    id: int,
    username: str | None,
    first_name: str,
    last_name: str | None,
    language_code: str | None,
    is_bot: bool,
) -> None:
    now = utcnow()
    values = {
        "username": username,
        "first_name": first_name,
        "last_name": last_name,
        "language_code": language_code,
        "is_bot": is_bot,
    }
    stmt = _insert(session, Member).values(id=id, created_at=now, updated_at=now, **values)
    table = Member.__table__  # type: ignore[attr-defined]
    changed = or_(*(table.c[k].is_distinct_from(stmt.excluded[k]) for k in values))
    stmt = stmt.on_conflict_do_update(
        index_elements=["id"], set_={**values, "updated_at": now}, where=changed
    )
    await session.exec(stmt)  # type: ignore[call-overload]


async def upsert_chat(
    *, session: AsyncSession, id: int, type: str, title: str | None, username: str | None
) -> None:
    now = utcnow()
    values = {"type": type, "title": title, "username": username}
    stmt = _insert(session, Chat).values(id=id, created_at=now, updated_at=now, **values)
    table = Chat.__table__  # type: ignore[attr-defined]
    changed = or_(*(table.c[k].is_distinct_from(stmt.excluded[k]) for k in values))
    stmt = stmt.on_conflict_do_update(
        index_elements=["id"], set_={**values, "updated_at": now}, where=changed
    )
    await session.exec(stmt)  # type: ignore[call-overload]


async def set_bot_status(*, session: AsyncSession, chat_id: int, status: str) -> None:
    chat = await session.get(Chat, chat_id)
    if chat is not None:
        chat.bot_status = status
        chat.updated_at = utcnow()
        session.add(chat)


async def ensure_membership(
    *, session: AsyncSession, chat_id: int, member_id: int, status: str = "member"
) -> None:
    now = utcnow()
    stmt = (
        _insert(session, Membership)
        .values(
            chat_id=chat_id,
            member_id=member_id,
            status=status,
            joined_at=now,
            last_seen_at=now,
            message_count=0,
        )
        .on_conflict_do_nothing()
    )
    await session.exec(stmt)  # type: ignore[call-overload]


async def set_membership_status(
    *, session: AsyncSession, chat_id: int, member_id: int, status: str
) -> None:
    await ensure_membership(session=session, chat_id=chat_id, member_id=member_id, status=status)
    membership = await session.get(Membership, (chat_id, member_id))
    if membership is not None and membership.status != status:
        membership.status = status
        session.add(membership)


async def record_message(
    *,
    session: AsyncSession,
    chat_id: int,
    message_id: int,
    member_id: int,
    update_id: int,
    kind: str,
    text_length: int,
    reply_to_message_id: int | None,
    sent_at: Any,
) -> bool:
    """Stores a group message once; returns False if this message was stored before."""
    values = {
        "chat_id": chat_id,
        "message_id": message_id,
        "member_id": member_id,
        "update_id": update_id,
        "kind": kind,
        "text_length": text_length,
        "reply_to_message_id": reply_to_message_id,
        "sent_at": sent_at,
    }
    return await _insert_new(session, ChatMessage, values)


async def record_messages(
    *, session: AsyncSession, rows: list[dict[str, Any]]
) -> set[tuple[int, int]]:
    """Stores group messages (the keyword arguments of `record_message`, each row with the same
    keys) in one round trip; returns the `(chat_id, message_id)` of those stored just now."""
    if not rows:
        return set()
    columns = tuple(rows[0])
    stmt, source = _insert_many(_dialect(session), ChatMessage, columns, ("chat_id", "message_id"))
    connection = await session.connection()
    stored = await source.fetch(connection, stmt, [[r[c] for c in columns] for r in rows])
    return {(int(chat_id), int(message_id)) for chat_id, message_id in stored}


async def count_messages(
    *, session: AsyncSession, chat_id: int, member_id: int | None = None
) -> int:
    table = ChatMessage.__table__  # type: ignore[attr-defined]
    stmt = func.count().select().select_from(table).where(table.c.chat_id == chat_id)
    if member_id is not None:
        stmt = stmt.where(table.c.member_id == member_id)
    return int((await session.exec(stmt)).one()[0])  # type: ignore[call-overload]
