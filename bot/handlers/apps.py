"""`/app`: opens the members' Mini App (points, leaderboard, wallets, apps); `/newapp`: registers
a builder's Mini App in the private chat; `/enableapp` and `/disableapp`: a group's managers
turn a builder app on (with a cap on the points its events give) or off.

Telegram allows inline `web_app` buttons only in private chats; in a group the bot answers with
a direct link `https://t.me/<bot>/<app>?startapp=<group>`, whose start parameter tells the
gateway which group the launch came from (the gateway then checks the membership itself).
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
    WebAppInfo,
)
from aiogram.utils.markdown import html_decoration as hd
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import texts
from bot.handlers.manage import allowed
from core.models_miniapps import MiniApp, hash_secret
from core.settings import Settings
from miniapps import registry
from miniapps.deps import start_param_for

# The Mini App's short name, as registered with BotFather (/newapp) for the bot.
APP_SHORT_NAME = "app"
GROUPS = F.chat.type.in_({"group", "supergroup"})
MAX_APPS = 10
MAX_NAME = 64
MAX_URL = 512


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(app_in_group, Command("app"), GROUPS)
    router.message.register(app_in_private, Command("app"), F.chat.type == "private")
    router.message.register(new_app, Command("newapp"), F.chat.type == "private")
    router.message.register(enable_app, Command("enableapp"), GROUPS)
    router.message.register(disable_app, Command("disableapp"), GROUPS)
    return router


def new_credentials() -> tuple[str, str]:
    """A fresh app id and secret; the secret has 256 bits, so its hash can't be guessed back."""
    return f"app_{secrets.token_hex(8)}", secrets.token_urlsafe(32)


def direct_link(bot_username: str, chat_id: int) -> str:
    return f"https://t.me/{bot_username}/{APP_SHORT_NAME}?startapp={start_param_for(chat_id)}"


async def app_in_group(message: Message, bot: Bot) -> None:
    me = await bot.me()
    button = InlineKeyboardButton(
        text=texts.app_button(), url=direct_link(me.username or "", message.chat.id)
    )
    await message.answer(
        texts.app_group(), reply_markup=InlineKeyboardMarkup(inline_keyboard=[[button]])
    )


async def app_in_private(message: Message, settings: Settings) -> None:
    button = InlineKeyboardButton(
        text=texts.app_button(), web_app=WebAppInfo(url=f"{settings.base_url}/miniapp/points")
    )
    await message.answer(
        texts.app_private(), reply_markup=InlineKeyboardMarkup(inline_keyboard=[[button]])
    )


def split_url(args: str, *, allow_http: bool) -> tuple[str, str | None]:
    """`NAME [URL]` -> (name, url); the URL is "" when absent and None when not acceptable
    (https only, plain http too in the sandbox where everything runs on loopback)."""
    words = args.split()
    if not words or "://" not in words[-1]:
        return " ".join(words), ""
    url = words[-1]
    parts = urlsplit(url)
    schemes = {"https", "http"} if allow_http else {"https"}
    ok = parts.scheme in schemes and bool(parts.hostname) and len(url) <= MAX_URL
    return " ".join(words[:-1]), url if ok else None


async def new_app(
    message: Message, command: CommandObject, session: AsyncSession, settings: Settings
) -> None:
    """Registers an app for the sender; its secret is shown in this answer and never again."""
    name, url = split_url(command.args or "", allow_http=settings.is_sandbox)
    if url is None:
        await message.answer(texts.newapp_bad_url())
        return
    if not name or len(name) > MAX_NAME or message.from_user is None:
        await message.answer(texts.newapp_usage(MAX_NAME))
        return
    owner = message.from_user.id
    owned = (
        select(func.count())
        .select_from(MiniApp)
        .where(col(MiniApp.owner_id) == owner, col(MiniApp.revoked_at).is_(None))
    )
    if (await session.exec(owned)).one() >= MAX_APPS:
        await message.answer(texts.newapp_limit(MAX_APPS))
        return
    app_id, secret = new_credentials()
    session.add(
        MiniApp(id=app_id, name=name, owner_id=owner, secret_hash=hash_secret(secret), url=url)
    )
    # Flushed first: the secret is shown only for an app the database has accepted.
    await session.flush()
    await message.answer(texts.newapp_created(hd.quote(name), app_id, secret))


async def enable_app(
    message: Message,
    *,
    command: CommandObject,
    session: AsyncSession,
    bot: Bot,
    dispatcher: Dispatcher,
    event_update: Update,
) -> None:
    """`/enableapp APP_ID [CAP]`: the app's events count in this group, within the cap."""
    if not await allowed(message, session, bot, dispatcher, event_update):
        return
    args = (command.args or "").split()
    if not args or len(args) > 2:
        await message.reply(texts.enableapp_usage(registry.DEFAULT_CAP))
        return
    app_id = args[0]
    cap = registry.DEFAULT_CAP
    if len(args) == 2:
        if not args[1].isdigit():
            await message.reply(texts.enableapp_bad_cap(registry.MAX_CAP))
            return
        cap = int(args[1])
    user = message.from_user
    try:
        grant = await registry.enable(
            session=session,
            chat_id=message.chat.id,
            app_id=app_id,
            cap=cap,
            by=user.id if user else None,
        )
    except registry.RegistryError as exc:
        answer = (
            texts.enableapp_bad_cap(registry.MAX_CAP)
            if exc.reason == "bad_cap"
            else texts.enableapp_unknown(hd.quote(app_id[:40]))
        )
        await message.reply(answer)
        return
    app = await session.get(MiniApp, grant.app_id)
    name = app.name if app is not None else grant.app_id
    await message.reply(texts.enableapp_done(hd.quote(name), grant.app_id, grant.cap))


async def disable_app(
    message: Message,
    *,
    command: CommandObject,
    session: AsyncSession,
    bot: Bot,
    dispatcher: Dispatcher,
    event_update: Update,
) -> None:
    """`/disableapp APP_ID`: the app's events are refused in this group from now on."""
    if not await allowed(message, session, bot, dispatcher, event_update):
        return
    args = (command.args or "").split()
    if len(args) != 1:
        await message.reply(texts.enableapp_usage(registry.DEFAULT_CAP))
        return
    app_id = hd.quote(args[0][:40])
    if await registry.disable(session=session, chat_id=message.chat.id, app_id=args[0]):
        await message.reply(texts.disableapp_done(app_id))
    else:
        await message.reply(texts.disableapp_not_enabled(app_id))
