"""The "My claims" Mini App API on SQLite and PostgreSQL: a published epoch with an EVM claim
on anvil and a Solana claim on LiteSVM, statuses before and after each member claims, a member
without a wallet, chain failures shown as "status unknown", and who may read what."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from web3 import AsyncHTTPProvider, AsyncWeb3

from core import repo
from core.db import create_engine, session_factory, transaction
from core.migrate import upgrade
from core.models_claims import Settlement as SettlementRecord
from core.models_claims import SettlementRow
from core.settings import Settings
from engagement import settle_service
from miniapps.claims import create_claims_router
from miniapps.deps import create_session_router, start_param_for
from miniapps.initdata_sign import sign_init_data
from miniapps.member_claims import (
    AFTER_DEADLINE,
    CLAIMABLE,
    CLAIMED,
    NOT_FUNDED,
    ClaimStatuses,
    EvmFacts,
    create_member_claims_router,
    evm_status,
    solana_status,
)
from tests.conftest import free_port
from tests.engagement.test_settlement_store import CHAT, Sessions, close, seed
from tests.wallet.test_claims_solana import World
from wallet import distributor as dist
from wallet.chains.anvil import Anvil
from wallet.solana_claims import from_wire, sign_as

TOKEN = "4242:our-bot-token-for-tests"
OTHER = -1009901
POOL = 6_000
# Evan claims on anvil, Sol on LiteSVM, Nora had points and no wallet, Olga is in another group.
EVAN, SOL, NORA, OLGA = 21, 22, 23, 24
URL = "/miniapp/api/claims"


@pytest.fixture(scope="module")
def anvil() -> Iterator[Anvil]:
    with Anvil() as node:
        yield node


@dataclass
class Env:
    http: httpx.AsyncClient
    app: FastAPI
    sessions: Sessions
    w3: AsyncWeb3
    evan: Any  # anvil's dev account of Evan
    world: World
    distributor: str

    async def login(self, member: int, chat: int | None = CHAT) -> dict[str, str]:
        fields: dict[str, Any] = {"user": {"id": member, "first_name": f"M{member}"}}
        if chat is not None:
            fields["start_param"] = start_param_for(chat)
        body = {"init_data": sign_init_data(fields, bot_token=TOKEN)}
        answer = await self.http.post("/miniapp/session", json=body)
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['token']}"}

    async def claims(self, member: int, **params: Any) -> dict[str, Any]:
        answer = await self.http.get(URL, headers=await self.login(member), params=params)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def evm_client(self, w3: AsyncWeb3 | None) -> None:
        """Points the claims routes at another EVM client (or none)."""
        self.app.state.evm = w3


async def deploy(w3: AsyncWeb3, anvil: Anvil, root: str, total: int) -> str:
    owner = anvil.accounts[0]
    token = await dist.deploy_token(w3, name="D", symbol="D", supply=total, deployer_key=owner.key)
    latest = await w3.eth.get_block("latest")
    address = await dist.deploy_distributor(
        w3,
        token=token,
        merkle_root=root,
        claim_deadline=int(latest["timestamp"]) + 86_400,
        owner_key=owner,
    )
    await dist.fund(w3, token=token, distributor=address, amount=total, funder_key=owner)
    return address


@pytest.fixture
async def env(database_url: str, anvil: Anvil, tmp_path: Path) -> AsyncIterator[Env]:
    await asyncio.to_thread(upgrade, database_url)
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    world, evan = World(), anvil.accounts[5]
    sol = world.members[0]
    wallets = {"evm": {EVAN: evan.address}, "solana": {SOL: str(sol.pubkey())}}
    await seed(sessions, {EVAN: 1, SOL: 2, NORA: 3}, **wallets)
    await seed(sessions, {OLGA: 1}, chat=OTHER)
    async with transaction(sessions) as session:
        for chat, member in ((CHAT, EVAN), (CHAT, SOL), (CHAT, NORA), (OTHER, OLGA)):
            await repo.set_membership_status(
                session=session, chat_id=chat, member_id=member, status="member"
            )
    record = await close(sessions, POOL)
    assert record.evm_root is not None
    w3 = AsyncWeb3(AsyncHTTPProvider(anvil.rpc_url))
    address = await deploy(w3, anvil, record.evm_root, POOL // 6)
    world.grant(POOL // 3)
    async with transaction(sessions) as session:
        await settle_service.publish(
            session=session, chat_id=CHAT, number=1, distributor=address, chain_id="31337",
            treasury=str(world.treasury), mint=str(world.mint), allowance=POOL // 3,
        )  # fmt: skip
    app = FastAPI()
    settings = Settings(mode="sandbox", data_dir=tmp_path, bot_token=TOKEN)
    app.state.gateway = SimpleNamespace(settings=settings, sessions=sessions)
    app.state.evm = w3
    evm_client = lambda _g, _r: app.state.evm  # noqa: E731
    app.include_router(create_session_router())
    app.include_router(create_member_claims_router(evm_client=evm_client))
    app.include_router(
        create_claims_router(solana_payout=lambda _g, _r: world.payout, evm_client=evm_client)
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://town.example") as http:
        yield Env(http, app, sessions, w3, evan, world, address)
    await w3.provider.disconnect()
    await engine.dispose()


def only(body: dict[str, Any]) -> dict[str, Any]:
    assert len(body["claims"]) == 1, body
    return dict(body["claims"][0])


async def test_claims_on_both_chains_until_claimed(env: Env) -> None:
    evm_claim = only(await env.claims(EVAN))
    assert evm_claim == {
        "epoch": 1,
        "chain": "evm",
        "account": env.evan.address,
        "amount": str(POOL // 6),
        "status": CLAIMABLE,
        "reason": None,
        "tx_hash": None,
        "claim_url": f"/claim/{CHAT}/1",
    }
    sol = env.world.members[0]
    sol_claim = only(await env.claims(SOL))
    assert (sol_claim["chain"], sol_claim["account"]) == ("solana", str(sol.pubkey()))
    assert (sol_claim["amount"], sol_claim["status"]) == (str(POOL // 3), CLAIMABLE)

    # Evan claims from his wallet: the distributor says so even before anyone confirms it.
    proof = (await env.http.get(f"/v1/claims/{CHAT}/1/proof/{env.evan.address}")).json()
    await env.w3.eth.send_transaction(
        {"from": env.evan.address, "to": env.distributor, "data": proof["calldata"]}
    )
    assert only(await env.claims(EVAN))["status"] == CLAIMED

    # Sol signs the prepared transaction; once confirmed, the claim shows with its signature.
    url = f"/v1/claims/{CHAT}/1"
    prepared = await env.http.post(f"{url}/solana/prepare", json={"owner": str(sol.pubkey())})
    assert only(await env.claims(SOL))["status"] == CLAIMABLE  # prepared is not claimed
    sent = env.world.chain.send(sign_as(from_wire(prepared.json()["tx"]), sol))
    done = await env.http.post(
        f"{url}/confirm", json={"account": str(sol.pubkey()), "tx_hash": str(sent.signature)}
    )
    assert done.status_code == 200, done.text
    claimed = only(await env.claims(SOL))
    assert (claimed["status"], claimed["tx_hash"]) == (CLAIMED, str(sent.signature))


async def test_points_without_a_wallet_are_named(env: Env) -> None:
    body = await env.claims(NORA)
    assert body["claims"] == [] and body["unlinked"] == [{"epoch": 1, "amount": str(POOL // 2)}]
    assert body["chat"] == {"id": CHAT, "title": "T"}
    assert (await env.claims(EVAN))["unlinked"] == []


async def test_chain_failures_show_status_unknown(env: Env) -> None:
    dead = AsyncWeb3(AsyncHTTPProvider(f"http://127.0.0.1:{free_port()}"))
    env.evm_client(dead)
    broken = only(await env.claims(EVAN))
    assert broken["status"] == "status unknown"
    assert broken["reason"].startswith("the EVM chain could not be read (")
    assert "127.0.0.1" not in broken["reason"]  # provider URLs may carry API keys
    await dead.provider.disconnect()
    env.evm_client(None)
    missing = only(await env.claims(EVAN))
    assert missing["status"] == "status unknown"
    assert missing["reason"] == "no RPC endpoint for this epoch's EVM chain"
    # The Solana side does not need the EVM chain.
    assert only(await env.claims(SOL))["status"] == CLAIMABLE


async def test_nobody_reads_another_members_claims(env: Env) -> None:
    assert (await env.http.get(URL)).status_code == 401
    bad = {"Authorization": "Bearer not.a.token"}
    assert (await env.http.get(URL, headers=bad)).status_code == 401
    # Each token answers for its own member only: Sol's reads show Sol's wallet, never Evan's.
    sol_body = await env.claims(SOL)
    assert env.evan.address not in str(sol_body)
    # A token bound to the group cannot be pointed at another group, nor a stranger's at this.
    evan = await env.login(EVAN)
    wrong = await env.http.get(URL, headers=evan, params={"chat_id": OTHER})
    assert wrong.status_code == 403
    olga = await env.login(OLGA, chat=None)
    stranger = await env.http.get(URL, headers=olga, params={"chat_id": CHAT})
    assert (stranger.status_code, stranger.json()["detail"]) == (403, {"reason": "not_a_member"})
    # A private launch without a group lists the member's groups to pick from.
    private = await env.http.get(URL, headers=olga)
    assert private.json()["chat"] is None and [g["id"] for g in private.json()["groups"]] == [OTHER]


@pytest.mark.parametrize(
    ("claimed", "balance", "now", "expected"),
    [
        (True, 0, 10**9, CLAIMED),  # claimed stays claimed after the deadline and the sweep
        (False, 5, 99, CLAIMABLE),
        (False, 5, 100, CLAIMABLE),  # the deadline's own second still accepts claims
        (False, 5, 101, AFTER_DEADLINE),
        (False, 4, 99, NOT_FUNDED),
    ],
)
def test_evm_status(claimed: bool, balance: int, now: int, expected: str) -> None:
    facts = EvmFacts(claimed={3: claimed}, balance=balance, deadline=100, now=now)
    assert evm_status(facts, index=3, amount=5) == expected


def record_of(**fields: Any) -> SettlementRecord:
    base: dict[str, Any] = {"chat_id": CHAT, "epoch_number": 2, "epoch_id": 7, "pool": "9"}
    return SettlementRecord(**base, ledger_digest="sha256:", state="published", **fields)


async def test_unfunded_and_late_claims() -> None:
    asked: list[object] = []
    statuses = ClaimStatuses(None, lambda _g, record: asked.append(record))
    row = SettlementRow(
        settlement_id=1, chain="evm", index=0, member_id=EVAN, account="0x", amount="9",
        tree_index=1,
    )  # fmt: skip
    # No distributor yet: nothing to ask a chain, the claim is simply not funded.
    assert await statuses.evm(record_of(), [row], set()) == {0: (NOT_FUNDED, None)}
    assert asked == []
    granted = {"treasury": "T", "allowance": "9"}
    assert solana_status(record_of(), confirmed=False, now_ts=0) == NOT_FUNDED
    assert solana_status(record_of(**granted), confirmed=False, now_ts=0) == CLAIMABLE
    late = record_of(**granted, deadline=datetime(2026, 1, 1, tzinfo=UTC))
    after = datetime(2026, 1, 2, tzinfo=UTC).timestamp()
    assert solana_status(late, confirmed=False, now_ts=after) == AFTER_DEADLINE
    assert solana_status(late, confirmed=True, now_ts=after) == CLAIMED
