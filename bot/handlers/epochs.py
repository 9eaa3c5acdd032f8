"""Managers close an epoch, preview its allocation and publish its token claims from the group.

`/close POOL` closes the open epoch and shows a preview (totals per chain, top recipients,
members without a wallet, who are told privately to link one). The allocation is frozen only
when a manager presses Publish, so whoever links in between is paid. Publishing needs the
claims funded: from the manager's own wallet on the funding page, or, in the sandbox with
`auto_fund`, by the operator. Then every recipient gets a private message with a claim link.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from fractions import Fraction
from typing import Any, Literal

from aiogram import Bot, Dispatcher, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    CallbackQuery,
    InaccessibleMessage,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from aiogram.utils.i18n import I18n
from aiogram.utils.markdown import html_decoration as hd
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import texts
from bot.handlers.admins import admin_cache
from bot.handlers.manage import allowed, locale_of, tell
from bot.handlers.wallets import POLICY
from core.models import Member
from core.models_claims import Settlement as SettlementRecord
from core.models_claims import SettlementRow
from core.settings import Settings
from engagement import epochs, settle_service
from engagement.allocation import Transform
from engagement.settlement import AllocationParams, Settlement, SettlementError
from miniapps.claims import ChainUnavailable
from wallet import linking
from wallet.link_messages import FAMILY_NAMES

log = logging.getLogger(__name__)
TOP = 5
UNLINKED_SHOWN = 10


Press = Literal["publish", "refresh"]
# A button's callback data holds at most 64 bytes, so the press and the parameters are packed
# short and bounded: a pool of up to 10**31 base units, a 9-digit minimum, a cap to 4 decimals.
MAX_POOL_DIGITS = 31
MAX_MIN_DIGITS = 9
CAP = re.compile(r"^(0(\.[0-9]{1,4})?|1(\.0{1,4})?)$")


class EpochAction(CallbackData, prefix="ep"):
    """A press on the preview, with the parameters the preview was made with."""

    press: Literal["p", "r"]
    epoch: int
    pool: int
    min: int = 0
    cap: str = ""
    sqrt: bool = False

    @classmethod
    def of(cls, press: Press, epoch: int, params: AllocationParams) -> EpochAction:
        return cls(
            press="p" if press == "publish" else "r",
            epoch=epoch,
            pool=params.pool,
            min=params.min_score,
            cap=params.cap_share or "",
            sqrt=params.transform == "sqrt",
        )

    @property
    def action(self) -> Press:
        return "publish" if self.press == "p" else "refresh"

    def params(self) -> AllocationParams:
        transform: Transform = "sqrt" if self.sqrt else "linear"
        return AllocationParams(self.pool, self.min, self.cap or None, transform)


def parse_close(args: str) -> AllocationParams | None:
    """`POOL [min=N] [cap=SHARE] [sqrt|linear]`, or None when that is not what was sent."""
    words = args.split()
    if not words or not words[0].isdigit() or int(words[0]) <= 0:
        return None
    if len(words[0].lstrip("0")) > MAX_POOL_DIGITS:
        return None
    params = AllocationParams(int(words[0]))
    for word in words[1:]:
        key, _, value = word.partition("=")
        if word in ("sqrt", "linear"):
            params = replace(params, transform="sqrt" if word == "sqrt" else "linear")
        elif key == "min" and value.isdigit() and len(value) <= MAX_MIN_DIGITS:
            params = replace(params, min_score=int(value))
        elif key == "cap" and CAP.match(value) and Fraction(value) > 0:
            params = replace(params, cap_share=value)
        else:
            return None
    return params


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(F.chat.type.in_({"group", "supergroup"}))
    router.callback_query.filter(F.message.chat.type.in_({"group", "supergroup"}))
    router.message.register(close, Command("close"))
    router.callback_query.register(on_action, EpochAction.filter())
    return router


def fund_url(settings: Settings, chat_id: int, epoch: int) -> str:
    return f"{settings.base_url}/fund/{chat_id}/{epoch}"


def claim_url(settings: Settings, chat_id: int, epoch: int) -> str:
    return f"{settings.base_url}/claim/{chat_id}/{epoch}"


def _keyboard(epoch: int, params: AllocationParams) -> InlineKeyboardMarkup:
    def button(text: str, action: Press) -> InlineKeyboardButton:
        data = EpochAction.of(action, epoch, params).pack()
        return InlineKeyboardButton(text=text, callback_data=data)

    return InlineKeyboardMarkup(
        inline_keyboard=[
            [button(texts.publish_button(), "publish"), button(texts.refresh_button(), "refresh")]
        ]
    )


async def _names(session: AsyncSession, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    found = await session.exec(select(Member).where(col(Member.id).in_(ids)))
    return {m.id: (f"@{m.username}" if m.username else m.first_name) for m in found.all()}


async def _preview_text(session: AsyncSession, number: int, result: Settlement) -> str:
    paid = sorted(result.amounts.items(), key=lambda item: (-item[1], item[0]))
    names = await _names(session, [m for m, _ in paid[:TOP]] + sorted(result.unlinked))
    pool = str(result.params.pool)
    lines = [texts.preview_header(number, pool, sum(1 for _, a in paid if a))]
    for chain, tree in result.trees.items():
        total = sum(row.amount for row in tree.rows)
        lines.append(texts.preview_chain(FAMILY_NAMES[chain], str(total), len(tree.rows)))
    lines.append(texts.preview_top_header())
    for place, (member, amount) in enumerate(paid[:TOP], 1):
        name = hd.quote(names.get(member, str(member)))
        lines.append(texts.preview_top_line(place, name, str(amount)))
    return "\n".join(lines)


async def _tell_unlinked(
    *, bot: Bot, session: AsyncSession, i18n: I18n, settings: Settings, title: str,
    number: int, result: Settlement,
) -> int:  # fmt: skip
    """Tells each member without a wallet, privately, to link one; returns how many were told."""
    told = 0
    for member_id, amount in sorted(result.unlinked.items()):
        urls = []
        for family in ("evm", "solana"):
            token = await linking.issue_token(
                session=session, member_id=member_id, family=family, policy=POLICY
            )
            urls.append(f"{settings.base_url}/link/{token}")
        with i18n.use_locale(await locale_of(session, member_id, i18n)):
            text = texts.link_window_notice(hd.quote(title), number, str(amount))
            keyboard = InlineKeyboardMarkup(
                inline_keyboard=[
                    [InlineKeyboardButton(text=texts.link_evm_button(), url=urls[0])],
                    [InlineKeyboardButton(text=texts.link_solana_button(), url=urls[1])],
                ]
            )
        told += await tell(bot, member_id, text, keyboard)
    return told


async def _unlinked_line(session: AsyncSession, result: Settlement, told: int | None) -> str:
    if not result.unlinked:
        return ""
    names = await _names(session, sorted(result.unlinked)[:UNLINKED_SHOWN])
    shown = ", ".join(hd.quote(names.get(m, str(m))) for m in sorted(names))
    if len(result.unlinked) > UNLINKED_SHOWN:
        shown += ", …"
    held = str(sum(result.unlinked.values()))
    line = "\n" + texts.preview_unlinked(held, shown)
    return line if told is None else f"{line} {texts.unlinked_told(told)}"


async def close(
    message: Message,
    *,
    command: CommandObject,
    session: AsyncSession,
    bot: Bot,
    dispatcher: Dispatcher,
    event_update: Update,
    settings: Settings,
    i18n: I18n,
) -> None:
    """`/close POOL`: closes the open epoch and previews the split of POOL base units."""
    if not await allowed(message, session, bot, dispatcher, event_update):
        return
    params = parse_close(command.args or "")
    if params is None:
        await message.reply(texts.close_usage())
        return
    chat_id = message.chat.id
    try:
        # A savepoint: when the allocation fails, the epoch stays open as it was.
        async with session.begin_nested():
            epoch, _ = await epochs.close(session=session, chat_id=chat_id)
            result = await settle_service.preview(
                session=session, chat_id=chat_id, number=epoch.number, params=params
            )
    except (epochs.EpochError, SettlementError) as exc:
        await message.reply(texts.close_refused(hd.quote(str(exc))))
        return
    told = await _tell_unlinked(
        bot=bot, session=session, i18n=i18n, settings=settings,
        title=message.chat.title or "", number=epoch.number, result=result,
    )  # fmt: skip
    text = await _preview_text(session, epoch.number, result)
    text += await _unlinked_line(session, result, told)
    await message.answer(text, reply_markup=_keyboard(epoch.number, params))


async def on_action(
    query: CallbackQuery,
    callback_data: EpochAction,
    *,
    session: AsyncSession,
    bot: Bot,
    dispatcher: Dispatcher,
    settings: Settings,
    i18n: I18n,
    chains: Any = None,
) -> None:
    """Refresh the preview, or freeze, fund and publish the epoch; managers only."""
    message = query.message
    if message is None or isinstance(message, InaccessibleMessage):
        await query.answer()
        return
    chat_id = message.chat.id
    if not await admin_cache(dispatcher).is_admin(bot, chat_id, query.from_user.id):
        await query.answer(texts.managers_only(), show_alert=True)
        return
    number, params = callback_data.epoch, callback_data.params()
    if callback_data.action == "refresh":
        await _refresh(query, message, session, number, params)
        return
    try:
        record = await _freeze(session, chat_id, number, params, settings)
        missing = await _fund(session, record, chains, settings)
        if missing:
            keyboard = InlineKeyboardMarkup(
                inline_keyboard=[
                    [
                        InlineKeyboardButton(
                            text=texts.fund_button(), url=fund_url(settings, chat_id, number)
                        )
                    ],
                    _keyboard(number, params).inline_keyboard[0][:1],
                ]
            )
            await message.answer(
                texts.publish_needs_funding(", ".join(missing)), reply_markup=keyboard
            )
            await query.answer()
            return
        record = await settle_service.publish(
            session=session, chat_id=chat_id, number=number,
            distributor=record.distributor, chain_id=record.chain_id, treasury=record.treasury,
            mint=record.mint, allowance=None if record.allowance is None else int(record.allowance),
        )  # fmt: skip
    except SettlementError as exc:
        await message.answer(texts.publish_failed(hd.quote(str(exc))))
        await query.answer()
        return
    await _faucet(session, record, chains)
    told = await _tell_recipients(
        bot=bot, session=session, i18n=i18n, settings=settings, record=record,
        title=message.chat.title or "",
    )  # fmt: skip
    roots = "\n".join(
        f"{FAMILY_NAMES[chain]}: <code>{root}</code>"
        for chain, root in (("evm", record.evm_root), ("solana", record.solana_root))
        if root
    )
    url = f"{settings.base_url}/epochs/{chat_id}/{number}/rules.json"
    await message.edit_text(texts.published_done(number, roots, told, url))
    await query.answer()


async def _refresh(
    query: CallbackQuery, message: Message, session: AsyncSession, number: int,
    params: AllocationParams,
) -> None:  # fmt: skip
    try:
        result = await settle_service.preview(
            session=session, chat_id=message.chat.id, number=number, params=params
        )
    except SettlementError as exc:
        await query.answer(str(exc), show_alert=True)
        return
    text = await _preview_text(session, number, result)
    text += await _unlinked_line(session, result, None)
    try:
        await message.edit_text(text, reply_markup=_keyboard(number, params))
    except TelegramBadRequest as error:
        if "not modified" not in error.message:
            raise
    await query.answer()


async def _freeze(
    session: AsyncSession, chat_id: int, number: int, params: AllocationParams, settings: Settings
) -> SettlementRecord:
    """The epoch's stored settlement, frozen now unless an earlier press froze it."""
    record = await settle_service.find(session=session, chat_id=chat_id, number=number)
    if record is not None:
        return record
    async with session.begin_nested():
        record, _ = await settle_service.close(
            session=session, chat_id=chat_id, number=number, params=params,
            files=settings.data_dir,
        )  # fmt: skip
    return record


async def _fund(
    session: AsyncSession, record: SettlementRecord, chains: Any, settings: Settings
) -> list[str]:
    """Funds what is not funded yet when the operator may; returns the chains still unfunded."""
    settlement_id = record.id or 0
    needs_evm = record.evm_root is not None and not record.distributor
    needs_solana = record.solana_root is not None and record.allowance is None
    if not (needs_evm or needs_solana):
        return []
    if chains is not None and settings.auto_fund and chains.state != "ready":
        try:
            chains.require()  # says why: still starting, or failed to start
        except ChainUnavailable as exc:
            raise SettlementError(str(exc)) from exc
    if chains is None or not settings.auto_fund:
        return [FAMILY_NAMES[c] for c, n in (("evm", needs_evm), ("solana", needs_solana)) if n]
    rows = await _rows(session, settlement_id)
    if needs_evm:
        total = sum(int(r.amount) for r in rows if r.chain == "evm")
        funded = await chains.fund_evm(root=record.evm_root, total=total)
        record.distributor, record.chain_id = funded.distributor, funded.chain_id
    if needs_solana:
        total = sum(int(r.amount) for r in rows if r.chain == "solana")
        total += await settle_service.solana_outstanding(
            session=session,
            chat_id=record.chat_id,
            treasury=str(chains.treasury),
            excluding=record.id or 0,
        )
        funded = chains.grant_solana(chat_id=record.chat_id, epoch=record.epoch_number, total=total)
        record.treasury, record.mint = funded.treasury, funded.mint
        record.allowance = str(funded.allowance)
    session.add(record)
    await session.flush()
    log.info("epoch %s of %s funded by the operator", record.epoch_number, record.chat_id)
    return []


async def _rows(session: AsyncSession, settlement_id: int) -> list[SettlementRow]:
    stmt = (
        select(SettlementRow)
        .where(col(SettlementRow.settlement_id) == settlement_id)
        .order_by(col(SettlementRow.member_id))
    )
    return list((await session.exec(stmt)).all())


async def _faucet(session: AsyncSession, record: SettlementRecord, chains: Any) -> None:
    """In the sandbox, recipients' wallets get enough to pay for their claim transaction."""
    if chains is None or chains.state != "ready":
        return
    rows = await _rows(session, record.id or 0)
    await chains.give_gas(
        evm=[r.account for r in rows if r.chain == "evm"],
        solana=[r.account for r in rows if r.chain == "solana"],
    )


async def _tell_recipients(
    *, bot: Bot, session: AsyncSession, i18n: I18n, settings: Settings,
    record: SettlementRecord, title: str,
) -> int:  # fmt: skip
    """Sends every recipient their claim link privately; returns how many were reached."""
    rows = await _rows(session, record.id or 0)
    url = claim_url(settings, record.chat_id, record.epoch_number)
    told = 0
    for row in rows:
        with i18n.use_locale(await locale_of(session, row.member_id, i18n)):
            text = texts.claim_ready(
                hd.quote(title), record.epoch_number, row.amount, FAMILY_NAMES[row.chain]
            )
            keyboard = InlineKeyboardMarkup(
                inline_keyboard=[[InlineKeyboardButton(text=texts.claim_button(), url=url)]]
            )
        told += await tell(bot, row.member_id, text, keyboard)
    return told
