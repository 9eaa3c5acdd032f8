"""Wallet linking in the private chat: /link (and the deep link /start link), /wallets, unlink
and primary buttons, and the confirmation sent when the link page stored a wallet.

The signing itself happens on the gateway's link page (`miniapps.wallet_link`), never in a Mini
App: Telegram allows only TON inside Mini Apps.
"""

from __future__ import annotations

import re
from typing import Literal

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    CallbackQuery,
    InaccessibleMessage,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.utils.markdown import html_decoration
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import texts
from bot.i18n import create_i18n, pick_locale
from core.models import Member, Membership
from core.models_wallet import WalletLink
from core.settings import Settings
from miniapps.wallet_link import LinkNotifier
from wallet import linking
from wallet.link_messages import FAMILY_NAMES, LinkPolicy, short_address

# `/start link` from https://t.me/<bot>?start=link, or `link_<chat id>` naming the group.
LINK_PAYLOAD = re.compile(r"link(?:_(-?[0-9]{1,19}))?")
IN_GROUP = frozenset({"member", "administrator", "creator", "restricted"})
POLICY = LinkPolicy()


class WalletAction(CallbackData, prefix="wallet"):
    action: Literal["unlink", "yes", "no", "primary"]
    link_id: int


def deep_link(bot_username: str, chat_id: int | None = None) -> str:
    """The link a group message can carry to start linking in the private chat."""
    payload = "link" if chat_id is None else f"link_{chat_id}"
    return f"https://t.me/{bot_username}?start={payload}"


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(F.chat.type == "private")
    router.callback_query.filter(F.message.chat.type == "private")
    router.message.register(link, Command("link"))
    router.message.register(
        link, CommandStart(deep_link=True, magic=F.args.regexp(LINK_PAYLOAD.pattern + "$"))
    )
    router.message.register(wallets, Command("wallets"))
    router.callback_query.register(on_action, WalletAction.filter())
    return router


async def _group_of(session: AsyncSession, args: str | None, member_id: int) -> int | None:
    """The group named by the deep link, if the member is in it (else the message names none)."""
    match = LINK_PAYLOAD.fullmatch(args or "")
    if match is None or match.group(1) is None:
        return None
    chat_id = int(match.group(1))
    membership = await session.get(Membership, (chat_id, member_id))
    return chat_id if membership is not None and membership.status in IN_GROUP else None


async def link(
    message: Message, session: AsyncSession, settings: Settings, command: CommandObject
) -> None:
    if message.from_user is None:
        return
    member_id = message.from_user.id
    chat_id = await _group_of(session, command.args, member_id)
    urls = []
    for family in ("evm", "solana"):
        token = await linking.issue_token(
            session=session, member_id=member_id, family=family, chat_id=chat_id, policy=POLICY
        )
        urls.append(f"{settings.base_url}/link/{token}")
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=texts.link_evm_button(), url=urls[0])],
            [InlineKeyboardButton(text=texts.link_solana_button(), url=urls[1])],
        ]
    )
    minutes = int(POLICY.token_ttl.total_seconds() // 60)
    await message.answer(texts.link_intro(minutes), reply_markup=keyboard)


def _listing(links: list[WalletLink]) -> tuple[str, InlineKeyboardMarkup | None]:
    if not links:
        return texts.wallets_none(), None
    lines = [texts.wallets_header()]
    rows = []
    for item in links:
        assert item.id is not None
        family = FAMILY_NAMES[item.chain_family]
        address = html_decoration.quote(item.address)
        lines.append(texts.wallet_line(family, address, item.is_primary))
        short = short_address(item.address)
        row = [
            InlineKeyboardButton(
                text=texts.unlink_button(short),
                callback_data=WalletAction(action="unlink", link_id=item.id).pack(),
            )
        ]
        if not item.is_primary:
            row.append(
                InlineKeyboardButton(
                    text=texts.primary_button(short),
                    callback_data=WalletAction(action="primary", link_id=item.id).pack(),
                )
            )
        rows.append(row)
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


async def wallets(message: Message, session: AsyncSession) -> None:
    if message.from_user is None:
        return
    text, keyboard = _listing(
        await linking.active_links(session=session, member_id=message.from_user.id)
    )
    await message.answer(text, reply_markup=keyboard)


def _confirmation(link: WalletLink) -> tuple[str, InlineKeyboardMarkup]:
    assert link.id is not None
    family = FAMILY_NAMES[link.chain_family]
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=texts.unlink_yes(),
                    callback_data=WalletAction(action="yes", link_id=link.id).pack(),
                ),
                InlineKeyboardButton(
                    text=texts.unlink_no(),
                    callback_data=WalletAction(action="no", link_id=link.id).pack(),
                ),
            ]
        ]
    )
    return texts.unlink_confirm(family, short_address(link.address)), keyboard


async def on_action(
    query: CallbackQuery, callback_data: WalletAction, session: AsyncSession
) -> None:
    message = query.message
    if message is None or isinstance(message, InaccessibleMessage):
        await query.answer()
        return
    member_id = query.from_user.id
    owned = {
        item.id: item for item in await linking.active_links(session=session, member_id=member_id)
    }
    link = owned.get(callback_data.link_id)
    notice: str | None = None
    if link is None:
        notice = texts.wallet_gone()
        text, keyboard = _listing(list(owned.values()))
    elif callback_data.action == "unlink":
        text, keyboard = _confirmation(link)
    elif callback_data.action == "yes":
        await linking.unlink(session=session, member_id=member_id, link_id=callback_data.link_id)
        notice = text = texts.unlinked(short_address(link.address))
        keyboard = None
    elif callback_data.action == "primary":
        await linking.make_primary(
            session=session, member_id=member_id, link_id=callback_data.link_id
        )
        notice = texts.made_primary(FAMILY_NAMES[link.chain_family], short_address(link.address))
        text, keyboard = _listing(await linking.active_links(session=session, member_id=member_id))
    else:
        text, keyboard = _listing(list(owned.values()))
    try:
        await message.edit_text(text, reply_markup=keyboard)
    except TelegramBadRequest as error:
        # A press on an outdated list can leave the text as it was; Telegram refuses that edit.
        if "not modified" not in error.message:
            raise
    await query.answer(notice)


def link_notifier(default_locale: str = "en") -> LinkNotifier:
    """The confirmation the link page sends through the bot, in the member's language."""
    i18n = create_i18n(default_locale)

    async def notify(bot: Bot, member: Member, link: WalletLink) -> None:
        locale = pick_locale(member.language_code, i18n.available_locales, i18n.default_locale)
        with i18n.context(), i18n.use_locale(locale):
            address = html_decoration.quote(short_address(link.address))
            text = texts.wallet_linked(FAMILY_NAMES[link.chain_family], address, link.is_primary)
        await bot.send_message(member.id, text)

    return notify
