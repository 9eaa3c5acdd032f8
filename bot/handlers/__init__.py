"""All routers of the bot, assembled in one place."""

from __future__ import annotations

from aiogram import Router

from bot.handlers import group, private


def build_router() -> Router:
    root = Router(name="townsquare")
    root.include_routers(private.router, group.router)
    return root
