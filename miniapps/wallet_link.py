"""The wallet-link page: an ordinary web page of the gateway, never a Mini App.

Telegram allows only TON inside Mini Apps, so EVM and Solana wallets are linked here, in the
member's browser, where MetaMask (EIP-1193), Phantom and Wallet Standard wallets work. The page
is opened from a URL button that carries a one-time link token; it asks the server for the exact
message to sign (`POST /link/{token}/challenge`) and sends the signature back
(`POST /link/{token}/verify`). The bot then confirms in the member's private chat.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, BackgroundTasks, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError

from core.models import Member
from core.models_wallet import WalletLink, WalletLinkPublic
from wallet import link_messages as lm
from wallet import linking
from wallet.errors import VerificationError

if TYPE_CHECKING:
    from web3 import AsyncWeb3

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
STATIC = {"link.js": "text/javascript", "link.css": "text/css"}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# The token is in the URL: no Referer may carry it away, and no cache may keep the page.
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
STATUS: dict[type[Exception], int] = {
    linking.TokenUnknown: 404,
    linking.TokenExpired: 410,
    linking.TokenUsed: 410,
    linking.TokenNotYours: 403,
    linking.TooManyChallenges: 429,
    linking.WalletTaken: 409,
    linking.AlreadyLinked: 409,
    linking.LinkNotFound: 404,
}

LinkNotifier = Callable[[Any, Member, WalletLink], Awaitable[None]]
"""Called as ``notify(bot, member, link)`` after a link is committed (the bot confirms)."""


class ChallengeIn(BaseModel):
    family: Literal["evm", "solana"]
    address: str = Field(min_length=1, max_length=64)


class ChallengeOut(BaseModel):
    message: str
    expires_at: datetime


class VerifyIn(BaseModel):
    family: Literal["evm", "solana"]
    address: str = Field(min_length=1, max_length=64)
    message: str = Field(min_length=1, max_length=2048)
    signature: str = Field(min_length=1, max_length=8192)


class VerifyOut(BaseModel):
    link: WalletLinkPublic
    short_address: str


def status_of(error: Exception) -> int:
    """The HTTP status of a refusal: the closest entry of `STATUS`, else 400."""
    for kind in type(error).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 400


def refusal(error: linking.LinkError | VerificationError) -> JSONResponse:
    body = {"error": error.code, "message": str(error)}
    return JSONResponse(body, status_of(error), headers=HEADERS)


def policy_from(settings: Any) -> lm.LinkPolicy:
    """The link policy that the gateway's settings configure (the EVM chain id to sign for)."""
    return lm.LinkPolicy(evm_chain_id=settings.link_evm_chain_id)


def rpc_client(settings: Any, policy: lm.LinkPolicy) -> AsyncWeb3 | None:
    """A client of the linking chain for EIP-1271 contract wallets, if one is configured.

    `Settings.evm_rpc_urls` is keyed by chain id (``{"1": "https://..."}``).
    """
    url = settings.evm_rpc_urls.get(str(policy.evm_chain_id))
    if not url:
        return None
    from web3 import AsyncHTTPProvider, AsyncWeb3  # heavy: imported on first use, not at start-up

    return AsyncWeb3(AsyncHTTPProvider(url))


def create_wallet_link_router(
    *, policy: lm.LinkPolicy | None = None, notify: LinkNotifier | None = None
) -> APIRouter:
    """The link page and its JSON API, on `request.app.state.gateway` (settings, sessions, bot).

    Args:
        policy: chain ids and lifetimes; by default, the EVM chain id of the gateway's settings
            (`link_evm_chain_id`), Solana mainnet, and the standard lifetimes.
        notify: sends the confirmation in the chat; without it the page alone confirms.
    """

    def policy_of(gateway: Any) -> lm.LinkPolicy:
        return policy or policy_from(gateway.settings)

    router = APIRouter(tags=["wallet linking"])
    templates = Jinja2Templates(directory=str(TEMPLATES))

    @router.get("/link/static/{name}", include_in_schema=False)
    async def static(name: str) -> FileResponse:
        if name not in STATIC:
            raise HTTPException(status_code=404, detail="Not Found")
        return FileResponse(TEMPLATES / "link" / name, media_type=STATIC[name], headers=HEADERS)

    @router.get("/link/{token}", response_class=HTMLResponse, include_in_schema=False)
    async def page(request: Request, token: str) -> Response:
        gateway = request.app.state.gateway
        versions = {name: int((TEMPLATES / "link" / name).stat().st_mtime) for name in STATIC}
        context: dict[str, Any] = {"versions": versions, "token": token}
        status = 200
        try:
            async with gateway.sessions() as session:
                view = await linking.open_token(session=session, token=token)
        except linking.LinkError as error:
            context["error"] = str(error)
            status = status_of(error)
        else:
            context.update(
                family=view.family,
                family_name=lm.FAMILY_NAMES[view.family],
                article="an" if view.family == lm.EVM else "a",
                member_id=view.member_id,
                username=view.username,
                chat_id=view.chat_id,
                expires_at=view.expires_at.strftime("%H:%M UTC"),
                chain_id=policy_of(gateway).chain_id(view.family),
                domain=gateway.settings.public_host,
            )
        response = templates.TemplateResponse(
            request, "link/page.html", context, status_code=status
        )
        response.headers.update(HEADERS)
        return response

    @router.post("/link/{token}/challenge", response_model=ChallengeOut)
    async def challenge(request: Request, token: str, body: ChallengeIn) -> Response:
        """Issue a nonce and the exact message the wallet must sign."""
        gateway = request.app.state.gateway
        settings = gateway.settings
        try:
            async with gateway.sessions() as session:
                issued = await linking.issue_challenge(
                    session=session,
                    token=token,
                    family=body.family,
                    address=body.address,
                    domain=settings.public_host,
                    uri=settings.base_url,
                    policy=policy_of(gateway),
                )
                await session.commit()
        except (linking.LinkError, VerificationError) as error:
            return refusal(error)
        out = ChallengeOut(message=issued.message, expires_at=issued.expires_at)
        return JSONResponse(out.model_dump(mode="json"), headers=HEADERS)

    @router.post("/link/{token}/verify", response_model=VerifyOut)
    async def verify(
        request: Request, token: str, body: VerifyIn, background: BackgroundTasks
    ) -> Response:
        """Verify the signed message and link the wallet to the token's member."""
        gateway = request.app.state.gateway
        try:
            link, member = await _verify(gateway, token, body, policy_of(gateway))
        except (linking.LinkError, VerificationError) as error:
            return refusal(error)
        if notify is not None and member is not None:
            background.add_task(_notify, notify, gateway.bot, member, link)
        out = VerifyOut(
            link=WalletLinkPublic.model_validate(link, from_attributes=True),
            short_address=lm.short_address(link.address),
        )
        return JSONResponse(out.model_dump(mode="json"), headers=HEADERS, background=background)

    return router


async def _verify(
    gateway: Any, token: str, body: VerifyIn, policy: lm.LinkPolicy
) -> tuple[WalletLink, Member | None]:
    w3 = rpc_client(gateway.settings, policy) if body.family == lm.EVM else None
    try:
        # One retry: a concurrent request may take the wallet between our check and our insert;
        # the second round then sees it and answers with the proper refusal.
        for attempt in range(2):
            async with gateway.sessions() as session:
                try:
                    link = await linking.verify_link(
                        session=session,
                        token=token,
                        family=body.family,
                        address=body.address,
                        message=body.message,
                        signature=body.signature,
                        domain=gateway.settings.public_host,
                        policy=policy,
                        w3=w3,
                    )
                except linking.WalletTaken:
                    await session.commit()  # keeps the conflict row: a sybil signal
                    raise
                except IntegrityError:
                    if attempt:
                        raise
                    continue
                member = await session.get(Member, link.member_id)
                await session.commit()
                return link, member
    finally:
        if w3 is not None:
            await w3.provider.disconnect()
    raise AssertionError("unreachable")


async def _notify(notify: LinkNotifier, bot: Any, member: Member, link: WalletLink) -> None:
    try:
        await notify(bot, member, link)
    except Exception:
        # The link is stored and the page said so; a lost chat message must not undo that.
        log.exception("could not confirm the link of %s to member %s", link.address, member.id)
