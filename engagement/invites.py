"""Points to a member whose own invite link brought a newcomer who then took part.

The credit needs two things that can arrive in either order: the join through the link
(`chat_member`, which names the link) and the newcomer's first message that passes the content
checks. Whichever comes second releases the credit, dated by the join.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from engagement import ledger, rules, state


async def joined(
    *,
    session: AsyncSession,
    chat_id: int,
    invitee_id: int,
    referrer_id: int,
    joined_at: datetime,
    update_id: int,
) -> list[ledger.Entry]:
    """Records who invited a new member; credits the referrer if the member already took part.

    The first referrer recorded for a member stays; a member who leaves and rejoins through
    another link does not earn anyone a second credit.
    """
    if invitee_id == referrer_id:
        return []
    locked = await state.lock(session=session, chat_id=chat_id, member_id=invitee_id, at=joined_at)
    if locked.bot_status in state.ABSENT:
        return []
    if locked.referrer_id is None:
        await state.save_extra(
            session=session,
            chat_id=chat_id,
            member_id=invitee_id,
            referrer_id=referrer_id,
            joined_at=joined_at,
        )
        referrer, since = referrer_id, joined_at
    else:
        referrer, since = locked.referrer_id, locked.joined_at or joined_at
    if not locked.state.has_qualified or locked.invite_credited:
        return []
    await state.resolve_context(
        session=session, chat_id=chat_id, at=since, version=locked.version, epoch_id=None
    )
    entry = await invite_entry(
        session=session,
        chat_id=chat_id,
        referrer_id=referrer,
        invitee_id=invitee_id,
        joined_at=since,
        update_id=update_id,
    )
    if entry is None:
        return []
    await state.save_extra(
        session=session, chat_id=chat_id, member_id=invitee_id, invite_credited=True
    )
    return await ledger.append(session=session, entries=[entry])


async def invite_entry(
    *,
    session: AsyncSession,
    chat_id: int,
    referrer_id: int,
    invitee_id: int,
    joined_at: datetime,
    update_id: int,
) -> ledger.Entry | None:
    """The referrer's credit, dated by the join (so it lands in the epoch of the join)."""
    version, epoch_id = await state.context(session=session, chat_id=chat_id, at=joined_at)
    if version is None or epoch_id is None:
        return None
    rules_ = await rules.load_version(session=session, chat_id=chat_id, version=version)
    if rules_.invite.points <= 0:
        return None
    return ledger.Entry(
        chat_id=chat_id,
        epoch_id=epoch_id,
        member_id=referrer_id,
        kind="invite",
        rule="invite",
        points=rules_.invite.points,
        rules_version=version,
        cause=ledger.invite_cause(invitee_id),
        occurred_at=joined_at,
        update_id=update_id,
        actor_id=invitee_id,
    )
