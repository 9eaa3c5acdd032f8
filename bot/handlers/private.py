"""Commands in the private chat with the bot."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandStart
from aiogram.types import Message
from aiogram.utils.markdown import html_decoration

from bot import texts


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(F.chat.type == "private")
    router.message.register(start, CommandStart())
    router.message.register(help_command, Command("help"))
    return router


async def start(message: Message) -> None:
    name = message.from_user.first_name if message.from_user else ""
    await message.answer(texts.start(html_decoration.quote(name)))


async def help_command(message: Message) -> None:
    await message.answer(texts.help_text())
