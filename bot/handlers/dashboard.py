"""`/dashboard` in a group: a direct link to the managers' dashboard Mini App for this group.

Anyone may ask for the link; the dashboard itself asks Telegram whether the person who opens
it administers the group, and shows everyone else a refusal.
"""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot import texts
from miniapps.deps import start_param_for

# The dashboard's short name, as registered with BotFather (/newapp) for the bot.
DASHBOARD_SHORT_NAME = "dashboard"


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(
        dashboard_in_group, Command("dashboard"), F.chat.type.in_({"group", "supergroup"})
    )
    return router


def dashboard_link(bot_username: str, chat_id: int) -> str:
    start = start_param_for(chat_id)
    return f"https://t.me/{bot_username}/{DASHBOARD_SHORT_NAME}?startapp={start}"


async def dashboard_in_group(message: Message, bot: Bot) -> None:
    me = await bot.me()
    button = InlineKeyboardButton(
        text=texts.dashboard_button(), url=dashboard_link(me.username or "", message.chat.id)
    )
    await message.answer(
        texts.dashboard_group(), reply_markup=InlineKeyboardMarkup(inline_keyboard=[[button]])
    )
