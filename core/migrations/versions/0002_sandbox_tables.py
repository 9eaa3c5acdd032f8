"""Sandbox tables: the local Telegram-style Bot API's users, chats, messages and update queues.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sandbox_bots",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("token", sa.String(length=128), nullable=False),
        sa.Column("webhook_url", sa.String(length=2048), nullable=False),
        sa.Column("webhook_secret", sa.String(length=256), nullable=True),
        sa.Column("max_connections", sa.Integer(), nullable=False),
        sa.Column("allowed_updates", sa.JSON(), nullable=True),
        sa.Column("last_update_id", sa.BigInteger(), nullable=False),
        sa.Column("last_error_date", UTC, nullable=True),
        sa.Column("last_error_message", sa.Text(), nullable=True),
        sa.Column("commands", sa.JSON(), nullable=True),
        sa.Column("menu_buttons", sa.JSON(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token"),
    )
    op.create_table(
        "sandbox_callback_queries",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("bot_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("from_id", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.String(length=64), nullable=True),
        sa.Column("answered", sa.Boolean(), nullable=False),
        sa.Column("answer_text", sa.String(length=256), nullable=True),
        sa.Column("show_alert", sa.Boolean(), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("answered_at", UTC, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "sandbox_chat_members",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rights", sa.JSON(), nullable=True),
        sa.Column("custom_title", sa.String(length=16), nullable=True),
        sa.Column("until_date", UTC, nullable=True),
        sa.Column("promoted_by", sa.BigInteger(), nullable=True),
        sa.Column("joined_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("chat_id", "user_id"),
    )
    op.create_index(
        "ix_sandbox_chat_members_user_id", "sandbox_chat_members", ["user_id"], unique=False
    )
    op.create_table(
        "sandbox_chats",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=128), nullable=True),
        sa.Column("username", sa.String(length=32), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("peer_bot_id", sa.BigInteger(), nullable=True),
        sa.Column("last_message_id", sa.BigInteger(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("permissions", sa.JSON(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "sandbox_counters",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "sandbox_invite_links",
        sa.Column("invite_link", sa.String(length=128), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("creator_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=True),
        sa.Column("expire_date", UTC, nullable=True),
        sa.Column("member_limit", sa.Integer(), nullable=True),
        sa.Column("creates_join_request", sa.Boolean(), nullable=False),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
        sa.Column("is_revoked", sa.Boolean(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("invite_link"),
    )
    op.create_index(
        "ix_sandbox_invite_links_chat_id", "sandbox_invite_links", ["chat_id"], unique=False
    )
    op.create_table(
        "sandbox_join_requests",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("invite_link", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("date", UTC, nullable=False),
        sa.PrimaryKeyConstraint("chat_id", "user_id"),
    )
    op.create_table(
        "sandbox_messages",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("message_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("from_id", sa.BigInteger(), nullable=False),
        sa.Column("date", UTC, nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("entities", sa.JSON(), nullable=True),
        sa.Column("reply_to_message_id", sa.BigInteger(), nullable=True),
        sa.Column("reply_markup", sa.JSON(), nullable=True),
        sa.Column("service", sa.JSON(), nullable=True),
        sa.Column("edit_date", UTC, nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("chat_id", "message_id"),
    )
    op.create_index(
        "ix_sandbox_messages_chat_revision",
        "sandbox_messages",
        ["chat_id", "revision"],
        unique=False,
    )
    op.create_table(
        "sandbox_reactions",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("message_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("emoji", sa.JSON(), nullable=False),
        sa.Column("date", UTC, nullable=False),
        sa.PrimaryKeyConstraint("chat_id", "message_id", "user_id"),
    )
    op.create_table(
        "sandbox_updates",
        sa.Column("bot_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("confirmed_at", UTC, nullable=True),
        sa.PrimaryKeyConstraint("bot_id", "update_id"),
    )
    op.create_index(
        "ix_sandbox_updates_pending",
        "sandbox_updates",
        ["bot_id", "confirmed_at", "update_id"],
        unique=False,
    )
    op.create_table(
        "sandbox_users",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("is_bot", sa.Boolean(), nullable=False),
        sa.Column("first_name", sa.String(length=64), nullable=False),
        sa.Column("last_name", sa.String(length=64), nullable=True),
        sa.Column("username", sa.String(length=32), nullable=True),
        sa.Column("language_code", sa.String(length=16), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sandbox_users_username", "sandbox_users", ["username"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_sandbox_users_username", table_name="sandbox_users")
    op.drop_table("sandbox_users")
    op.drop_index("ix_sandbox_updates_pending", table_name="sandbox_updates")
    op.drop_table("sandbox_updates")
    op.drop_table("sandbox_reactions")
    op.drop_index("ix_sandbox_messages_chat_revision", table_name="sandbox_messages")
    op.drop_table("sandbox_messages")
    op.drop_table("sandbox_join_requests")
    op.drop_index("ix_sandbox_invite_links_chat_id", table_name="sandbox_invite_links")
    op.drop_table("sandbox_invite_links")
    op.drop_table("sandbox_counters")
    op.drop_table("sandbox_chats")
    op.drop_index("ix_sandbox_chat_members_user_id", table_name="sandbox_chat_members")
    op.drop_table("sandbox_chat_members")
    op.drop_table("sandbox_callback_queries")
    op.drop_table("sandbox_bots")
