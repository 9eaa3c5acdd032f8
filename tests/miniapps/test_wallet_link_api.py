"""The wallet-link page and its JSON API (miniapps.wallet_link), through httpx against the app,
on SQLite and PostgreSQL: the page, challenge and verify, refusals with their codes, conflicts,
and EIP-1271 contract wallets on anvil."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import base58
import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from fastapi import FastAPI
from nacl.signing import SigningKey
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import SQLModel, func, select
from sqlmodel.ext.asyncio.session import AsyncSession
from web3 import AsyncHTTPProvider, AsyncWeb3

from core import clock, repo
from core.db import create_engine, session_factory, transaction
from core.models import Member
from core.models_wallet import WalletAudit, WalletChallenge, WalletLink
from core.settings import Settings
from miniapps.wallet_link import create_wallet_link_router
from wallet import linking
from wallet.chains.anvil import Anvil
from wallet.distributor import deploy_contract
from wallet.link_messages import LinkPolicy

BASE = "https://town.example"
ALICE, BOB, MALLORY = 101, 202, 303
EVM_KEY: LocalAccount = Account.from_key("0x" + "31" * 32)
EVM_OTHER: LocalAccount = Account.from_key("0x" + "32" * 32)
SOL_KEY = SigningKey(bytes([9]) * 32)
SOL_ADDRESS = base58.b58encode(bytes(SOL_KEY.verify_key)).decode()
TABLES = [
    SQLModel.metadata.tables[name]
    for name in (
        "members",
        "wallet_links",
        "wallet_link_tokens",
        "wallet_challenges",
        "wallet_audit_log",
    )
]


def evm_sign(text: str, account: LocalAccount = EVM_KEY) -> str:
    signed = Account.sign_message(encode_defunct(text=text), account.key)
    return "0x" + bytes(signed.signature).hex()


def sol_sign(text: str, key: SigningKey = SOL_KEY) -> str:
    return base58.b58encode(key.sign(text.encode()).signature).decode()


class Env:
    """The app under test, its database, and what it asked the bot to send."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings
        self.sent: list[tuple[int, str, bool]] = []
        self.clients: list[httpx.AsyncClient] = []

    def app(self, policy: LinkPolicy | None = None) -> httpx.AsyncClient:
        app = FastAPI()
        app.state.gateway = SimpleNamespace(
            settings=self.settings, sessions=self.sessions, bot=object()
        )

        async def notify(bot: Any, member: Member, link: WalletLink) -> None:
            self.sent.append((member.id, link.address, link.is_primary))

        app.include_router(create_wallet_link_router(policy=policy, notify=notify))
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)
        self.clients.append(client)
        return client

    async def token(self, member_id: int, family: str, **extra: Any) -> str:
        async with transaction(self.sessions) as session:
            return str(
                await linking.issue_token(
                    session=session, member_id=member_id, family=family, **extra
                )
            )

    async def count(self, table: Any, *where: Any) -> int:
        async with self.sessions() as session:
            query = select(func.count()).select_from(table).where(*where)
            return int((await session.exec(query)).one())

    async def state(self) -> tuple[int, int, int]:
        """Links, audit rows and used nonces: what a refusal must not change."""
        return (
            await self.count(WalletLink),
            await self.count(WalletAudit),
            await self.count(WalletChallenge, WalletChallenge.used_at != None),  # noqa: E711
        )


@pytest.fixture
async def env(database_url: str) -> AsyncIterator[Env]:
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: SQLModel.metadata.create_all(sync, tables=TABLES))
    sessions = session_factory(engine)
    async with transaction(sessions) as session:
        for member_id, username in ((ALICE, "alice"), (BOB, "bob"), (MALLORY, "<b>m&")):
            await repo.upsert_member(
                session=session,
                id=member_id,
                username=username,
                first_name="Name",
                last_name=None,
                language_code="en",
                is_bot=False,
            )
    settings = Settings(_env_file=None, mode="sandbox", public_url=BASE)  # type: ignore[call-arg]
    result = Env(sessions, settings)
    yield result
    for client in result.clients:
        await client.aclose()
    await engine.dispose()


@pytest.fixture
def client(env: Env) -> httpx.AsyncClient:
    return env.app()


async def issue(client: httpx.AsyncClient, token: str, family: str, address: str) -> str:
    response = await client.post(
        f"/link/{token}/challenge", json={"family": family, "address": address}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["message"])


async def send(
    client: httpx.AsyncClient, token: str, address: str, message: str, signature: str
) -> httpx.Response:
    """Posts a signed message; the family follows from the address (EVM ones start with 0x)."""
    family = "evm" if address.startswith("0x") else "solana"
    body = {"family": family, "address": address, "message": message, "signature": signature}
    return await client.post(f"/link/{token}/verify", json=body)


# --- the page ----------------------------------------------------------------------------------


async def test_page_is_plain_escaped_and_locked_down(env: Env, client: httpx.AsyncClient) -> None:
    token = await env.token(MALLORY, "evm")
    response = await client.get(f"/link/{token}")
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    html = response.text
    assert "<h1>Link an EVM wallet</h1>" in html
    assert "@&lt;b&gt;m&amp;" in html and "<b>m&" not in html
    assert f'data-challenge-url="/link/{token}/challenge"' in html
    assert "<script>" not in html and "telegram-web-app" not in html  # no inline code, no Mini App
    assert 'src="/link/static/link.js' in html and "town.example" in html


@pytest.mark.parametrize(
    ("name", "media_type", "needle"),
    [("link.js", "text/javascript", "personal_sign"), ("link.css", "text/css", "--tg-theme")],
)
async def test_static_files(
    client: httpx.AsyncClient, name: str, media_type: str, needle: str
) -> None:
    response = await client.get(f"/link/static/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media_type)
    assert needle in response.text
    assert (await client.get("/link/static/page.html")).status_code == 404


async def test_page_of_an_unusable_token_explains(
    env: Env, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    unknown = await client.get("/link/not-a-token")
    assert unknown.status_code == 404 and "send /link" in unknown.text
    assert 'id="app"' not in unknown.text
    token = await env.token(ALICE, "evm")
    later = clock.utcnow() + timedelta(minutes=16)
    monkeypatch.setattr(clock, "utcnow", lambda: later)
    expired = await client.get(f"/link/{token}")
    assert expired.status_code == 410 and "expired" in expired.text


# --- linking ------------------------------------------------------------------------------------


async def test_evm_link_through_the_api(env: Env, client: httpx.AsyncClient) -> None:
    token = await env.token(ALICE, "evm")
    message = await issue(client, token, "evm", EVM_KEY.address.lower())
    assert message.startswith("town.example wants you to sign in with your Ethereum account:\n")
    assert f"\n{EVM_KEY.address}\n" in message and "\nURI: https://town.example\n" in message
    assert "Telegram member 101 (@alice)" in message and "\nChain ID: 1\n" in message
    response = await send(client, token, EVM_KEY.address, message, evm_sign(message))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["link"]["address"] == EVM_KEY.address and body["link"]["is_primary"] is True
    assert body["short_address"] == f"{EVM_KEY.address[:5]}…{EVM_KEY.address[-3:]}"
    assert "message" not in body["link"] and "signature" not in body["link"]
    assert env.sent == [(ALICE, EVM_KEY.address, True)]
    replay = await send(client, token, EVM_KEY.address, message, evm_sign(message))
    assert (replay.status_code, replay.json()["error"]) == (400, "nonce_used")
    again = await client.post(
        f"/link/{token}/challenge", json={"family": "evm", "address": EVM_OTHER.address}
    )
    assert (again.status_code, again.json()["error"]) == (410, "token_used")
    assert env.sent == [(ALICE, EVM_KEY.address, True)]


async def test_solana_link_through_the_api(env: Env, client: httpx.AsyncClient) -> None:
    token = await env.token(BOB, "solana")
    message = await issue(client, token, "solana", SOL_ADDRESS)
    assert message.startswith("town.example wants you to sign in with your Solana account:\n")
    assert "\nChain ID: mainnet\n" in message
    response = await send(client, token, SOL_ADDRESS, message, sol_sign(message))
    assert response.status_code == 200, response.text
    assert env.sent == [(BOB, SOL_ADDRESS, True)]


async def test_second_member_cannot_take_the_wallet(env: Env, client: httpx.AsyncClient) -> None:
    first = await env.token(ALICE, "solana")
    message = await issue(client, first, "solana", SOL_ADDRESS)
    assert (await send(client, first, SOL_ADDRESS, message, sol_sign(message))).is_success
    second = await env.token(BOB, "solana")
    message = await issue(client, second, "solana", SOL_ADDRESS)
    refused = await send(client, second, SOL_ADDRESS, message, sol_sign(message))
    assert refused.status_code == 409
    assert refused.json()["error"] == "wallet_taken"
    assert refused.json()["message"].startswith("this wallet is already linked to another member")
    async with env.sessions() as session:
        conflicts = await linking.audit_events(session=session, event="conflict")
        links = await linking.active_links(session=session, member_id=BOB)
    assert [(c.member_id, c.other_member_id) for c in conflicts] == [(BOB, ALICE)]
    assert links == []
    assert env.sent == [(ALICE, SOL_ADDRESS, True)]


# --- refusals: the status and code the page shows, and nothing changed --------------------------


def altered(message: str) -> str:
    return message.replace("on Townsquare.", "on Townsquare, and more.")


CASES: list[tuple[str, str, Callable[[str], dict[str, str]], int, str]] = [
    (
        "another key",
        "evm",
        lambda m: {"signature": evm_sign(m, EVM_OTHER)},
        400,
        "invalid_signature",
    ),
    ("truncated", "evm", lambda m: {"signature": evm_sign(m)[:100]}, 400, "invalid_signature"),
    ("non-hex", "evm", lambda m: {"signature": "0xnothex"}, 400, "invalid_signature"),
    (
        "altered",
        "evm",
        lambda m: {"message": altered(m), "signature": evm_sign(altered(m))},
        400,
        "message_altered",
    ),
    (
        "unknown nonce",
        "evm",
        lambda m: {"message": m.replace("Nonce: ", "Nonce: x")},
        400,
        "nonce_unknown",
    ),
    (
        "bad EIP-55",
        "evm",
        lambda m: {"address": "0x" + EVM_KEY.address[2:].swapcase()},
        400,
        "invalid_address",
    ),
    (
        "other message",
        "solana",
        lambda m: {"signature": sol_sign(m.replace("mainnet", "devnet"))},
        400,
        "invalid_signature",
    ),
    (
        "other family",
        "solana",
        lambda m: {"family": "evm", "address": EVM_KEY.address},
        400,
        "wrong_family",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
async def test_refusals(
    env: Env, client: httpx.AsyncClient, case: tuple[str, str, Any, int, str]
) -> None:
    _, family, change, status, code = case
    address = EVM_KEY.address if family == "evm" else SOL_ADDRESS
    token = await env.token(ALICE, family)
    message = await issue(client, token, family, address)
    sign = evm_sign if family == "evm" else sol_sign
    body = {"family": family, "address": address, "message": message, "signature": sign(message)}
    body.update(change(message))
    before = await env.state()
    response = await client.post(f"/link/{token}/verify", json=body)
    assert (response.status_code, response.json()["error"]) == (status, code), response.text
    assert response.json()["message"]
    assert await env.state() == before and env.sent == []


async def test_wrong_domain_after_the_public_url_changed(
    env: Env, client: httpx.AsyncClient
) -> None:
    token = await env.token(ALICE, "evm")
    message = await issue(client, token, "evm", EVM_KEY.address)
    env.settings.public_url = "https://elsewhere.example"
    response = await send(client, token, EVM_KEY.address, message, evm_sign(message))
    assert (response.status_code, response.json()["error"]) == (400, "domain_mismatch")


async def test_the_chain_id_comes_from_the_settings(env: Env) -> None:
    env.settings.link_evm_chain_id = 8453
    client = env.app()
    token = await env.token(ALICE, "evm")
    page = await client.get(f"/link/{token}")
    assert 'data-chain-id="8453"' in page.text
    message = await issue(client, token, "evm", EVM_KEY.address)
    assert "\nChain ID: 8453\n" in message
    # A message signed for the configured chain is refused once the gateway signs for another.
    env.settings.link_evm_chain_id = 1
    refused = await send(client, token, EVM_KEY.address, message, evm_sign(message))
    assert (refused.status_code, refused.json()["error"]) == (400, "chain_mismatch")
    assert await env.state() == (0, 0, 0)
    env.settings.link_evm_chain_id = 8453
    accepted = await send(client, token, EVM_KEY.address, message, evm_sign(message))
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["link"]["chain_id"] == "8453"


@pytest.mark.parametrize(
    ("shift", "code"),
    [(timedelta(minutes=10, seconds=1), "expired"), (timedelta(seconds=-5), "not_yet_valid")],
)
async def test_expired_and_future_messages(
    env: Env,
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    shift: timedelta,
    code: str,
) -> None:
    token = await env.token(ALICE, "evm", now=clock.utcnow() - timedelta(seconds=10))
    message = await issue(client, token, "evm", EVM_KEY.address)
    moment = datetime.now(UTC) + shift
    monkeypatch.setattr(clock, "utcnow", lambda: moment)
    response = await send(client, token, EVM_KEY.address, message, evm_sign(message))
    assert (response.status_code, response.json()["error"]) == (400, code)
    assert await env.state() == (0, 0, 0)


async def test_token_expired_reused_and_of_another_member(
    env: Env, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await env.token(ALICE, "evm")
    bob = await env.token(BOB, "evm")
    message = await issue(client, alice, "evm", EVM_KEY.address)
    stolen = await send(client, bob, EVM_KEY.address, message, evm_sign(message))
    assert (stolen.status_code, stolen.json()["error"]) == (400, "nonce_unknown")
    unknown = await send(client, "x" * 43, EVM_KEY.address, message, evm_sign(message))
    assert (unknown.status_code, unknown.json()["error"]) == (404, "token_unknown")
    later = clock.utcnow() + timedelta(minutes=15)
    monkeypatch.setattr(clock, "utcnow", lambda: later)
    expired = await send(client, alice, EVM_KEY.address, message, evm_sign(message))
    assert (expired.status_code, expired.json()["error"]) == (410, "token_expired")
    assert await env.state() == (0, 0, 0)


async def test_body_is_validated(env: Env, client: httpx.AsyncClient) -> None:
    token = await env.token(ALICE, "evm")
    for body in ({"family": "btc", "address": "x"}, {"family": "evm", "address": "0x" * 40}):
        assert (await client.post(f"/link/{token}/challenge", json=body)).status_code == 422


# --- EIP-1271 contract wallets, reached through Settings.evm_rpc_urls ---------------------------


@pytest.fixture(scope="module")
def anvil() -> Iterator[Anvil]:
    with Anvil() as node:
        yield node


@pytest.mark.chain
async def test_contract_wallet_through_the_configured_chain(env: Env, anvil: Anvil) -> None:
    w3 = AsyncWeb3(AsyncHTTPProvider(anvil.rpc_url))
    owner, stranger = anvil.accounts[3], anvil.accounts[4]
    try:
        wallet = await deploy_contract(
            w3, "DemoContractWallet", (owner.address,), deployer_key=anvil.accounts[0]
        )
    finally:
        await w3.provider.disconnect()
    env.settings.evm_rpc_urls = {str(anvil.chain_id): anvil.rpc_url}
    client = env.app(LinkPolicy(evm_chain_id=anvil.chain_id))
    token = await env.token(ALICE, "evm")
    message = await issue(client, token, "evm", wallet)
    assert f"\nChain ID: {anvil.chain_id}\n" in message
    refused = await send(client, token, wallet, message, evm_sign(message, stranger))
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_signature")
    assert "EIP-1271" in refused.json()["message"]
    assert await env.state() == (0, 0, 0)
    accepted = await send(client, token, wallet, message, evm_sign(message, owner))
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["link"]["chain_id"] == str(anvil.chain_id)
