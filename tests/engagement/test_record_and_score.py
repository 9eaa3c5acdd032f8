"""`batch.record_and_score` on PostgreSQL when another transaction creates a member's state row
while the batch's statement waits for it: the member is missing from what the statement locked
and read, and its message is scored the one-by-one way, once, as if nothing had happened."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import select, text

from core import repo
from core.db import create_engine, transaction
from core.models_engagement import MemberState as StateRow
from engagement import batch, epochs
from engagement.ingest import IncomingMessage
from tests.engagement.helpers_engagement import TEXTS, group_sessions, ledger_rows

CHAT = -1008600
MEMBER = 7
SENT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


async def test_a_state_row_created_meanwhile_is_scored_the_slow_way(postgres_url: str) -> None:
    async with group_sessions(postgres_url, CHAT) as sessions:
        async with transaction(sessions) as session:
            await epochs.ensure_setup(session=session, chat_id=CHAT)
            await repo.upsert_member(
                session=session,
                id=MEMBER,
                username=None,
                first_name="M",
                last_name=None,
                language_code=None,
                is_bot=False,
            )
        record = {
            "chat_id": CHAT,
            "message_id": 1,
            "member_id": MEMBER,
            "update_id": 501,
            "kind": "text",
            "text_length": len(TEXTS[0]),
            "reply_to_message_id": None,
            "sent_at": SENT,
        }
        msg = IncomingMessage(CHAT, 1, MEMBER, 501, SENT, TEXTS[0])
        other = create_engine(postgres_url)
        async with other.connect() as creator, other.connect() as watcher:
            await creator.begin()
            await creator.execute(
                text(
                    "INSERT INTO engagement_member_state (chat_id, member_id, latest_message_id,"
                    " day, day_count, day_points, recent, has_qualified, invite_credited)"
                    " VALUES (:chat, :member, 0, 0, 0, 0, '[]', false, false)"
                ),
                {"chat": CHAT, "member": MEMBER},
            )

            async def scored() -> None:
                async with transaction(sessions) as session:
                    await batch.record_and_score(session=session, records=[record], msgs=[msg])

            scoring = asyncio.create_task(scored())
            waiting = text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            for _ in range(500):  # until the batch waits on the uncommitted row (5 s at most)
                if (await watcher.execute(waiting)).scalar_one():
                    break
                await asyncio.sleep(0.01)
            else:
                raise AssertionError("the batch never waited for the other transaction")
            await creator.commit()
            await scoring
        await other.dispose()
        rows = await ledger_rows(sessions)
        assert [(r.cause, r.revision, r.rule, r.points) for r in rows] == [
            ("msg:1", 0, "message", 10)
        ]
        async with sessions() as session:
            table = StateRow.__table__  # type: ignore[attr-defined]
            connection = await session.connection()
            latest = await connection.execute(select(table.c.latest_message_id))
            assert latest.scalar_one() == 1
