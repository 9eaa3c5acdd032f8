"""The sandbox's domain logic over the database, in one import.

Every helper is async, keyword-only and takes `session`; none commits, so run them inside
`core.db.transaction(sessions)`. A user action that Telegram would turn into an update
queues that update (for every bot that would get it) in the same transaction.

    async with transaction(sessions) as session:
        alice = await state.create_user(session=session, first_name="Alice")
        group = await state.create_group(session=session, title="Club", creator_id=alice["id"])
        await state.add_bot(session=session, chat_id=group["id"], by_user_id=alice["id"])
        await state.send_message(session=session, chat_id=group["id"], from_id=alice["id"],
                                 text="/start")
"""

from __future__ import annotations

from bot.sandbox.errors import SandboxError
from bot.sandbox.state_chats import (
    add_bot,
    add_member,
    chat_members,
    chat_owner,
    create_group,
    leave,
    promote,
    remove_bot,
)
from bot.sandbox.state_interactions import (
    answer_callback_query,
    callback_answer,
    press_button,
    react,
)
from bot.sandbox.state_links import (
    create_invite_link,
    decide_join_request,
    invite_links,
    join,
    join_requests,
    request_join,
    revoke_invite_link,
    use_invite_link,
)
from bot.sandbox.state_messages import changes, edit_message, messages, send_message
from bot.sandbox.state_updates import get_updates, pending_count, webhook_info
from bot.sandbox.state_users import (
    BOT_FIRST_NAME,
    BOT_USERNAME,
    bot_by_token,
    chats_for_user,
    create_user,
    ensure_bot,
    list_users,
    private_chat_with_bot,
)

__all__ = [
    "BOT_FIRST_NAME",
    "BOT_USERNAME",
    "SandboxError",
    "add_bot",
    "add_member",
    "answer_callback_query",
    "bot_by_token",
    "callback_answer",
    "changes",
    "chat_members",
    "chat_owner",
    "chats_for_user",
    "create_group",
    "create_invite_link",
    "create_user",
    "decide_join_request",
    "edit_message",
    "ensure_bot",
    "get_updates",
    "invite_links",
    "join",
    "join_requests",
    "leave",
    "list_users",
    "messages",
    "pending_count",
    "press_button",
    "private_chat_with_bot",
    "promote",
    "react",
    "remove_bot",
    "request_join",
    "revoke_invite_link",
    "send_message",
    "use_invite_link",
    "webhook_info",
]
