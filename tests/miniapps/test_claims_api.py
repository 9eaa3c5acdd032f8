"""The claims HTTP API: artefacts, proofs, the claim page, Solana claim transactions."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from core.db import create_engine, session_factory, transaction
from core.migrate import upgrade
from core.settings import Settings
from engagement import settle_service
from miniapps.claims import create_claims_router
from tests.engagement.test_settlement_store import CHAT, Sessions, close, evm, seed
from tests.wallet.test_claims_solana import POOL, World
from wallet.merkle import StandardMerkleTree
from wallet.merkle_core import process_proof
from wallet.solana_claims import from_wire, sign_as


def claims_app(sessions: Sessions, *, world: World | None = None, w3: Any = None) -> FastAPI:
    app = FastAPI()
    app.state.gateway = SimpleNamespace(settings=Settings(), sessions=sessions)
    app.include_router(
        create_claims_router(
            solana_payout=(lambda _g, _r: world.payout) if world else None,
            evm_client=lambda _g, _r: w3,
        )
    )
    return app


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


@pytest.fixture
async def sessions(sqlite_url: str) -> AsyncIterator[Sessions]:
    await asyncio.to_thread(upgrade, sqlite_url)
    engine = create_engine(sqlite_url)
    yield session_factory(engine)
    await engine.dispose()


async def publish(sessions: Sessions, **extra: Any) -> None:
    async with transaction(sessions) as session:
        await settle_service.publish(session=session, chat_id=CHAT, number=1, **extra)


async def test_nothing_is_served_before_publish(sessions: Sessions) -> None:
    await seed(sessions, {1: 1, 2: 3}, evm={1: evm(1), 2: evm(2)})
    await close(sessions, 400)
    async with client(claims_app(sessions)) as http:
        for path in ("dump.json", "claims.json", "rules.json", "ledger.jsonl"):
            assert (await http.get(f"/epochs/{CHAT}/1/{path}")).status_code == 404
        assert (await http.get(f"/v1/claims/{CHAT}/1/proof/{evm(1)}")).status_code == 404
        page = await http.get(f"/claim/{CHAT}/1")
        assert page.status_code == 404 and "not published" in page.text
        await publish(sessions)
        assert (await http.get(f"/epochs/{CHAT}/1/dump.json")).status_code == 200


async def test_artefacts_and_proofs(sessions: Sessions) -> None:
    await seed(sessions, {1: 1, 2: 3, 3: 4}, evm={1: evm(1), 2: evm(2)})
    await close(sessions, 800)
    await publish(sessions, distributor=evm(99), chain_id="31337")
    async with client(claims_app(sessions)) as http:
        dump = (await http.get(f"/epochs/{CHAT}/1/dump.json")).json()
        tree = StandardMerkleTree.load(dump)
        claims = (await http.get(f"/epochs/{CHAT}/1/claims.json")).json()
        assert claims["merkleRoot"] == tree.root
        ledger = (await http.get(f"/epochs/{CHAT}/1/ledger.jsonl")).content
        rules = (await http.get(f"/epochs/{CHAT}/1/rules.json")).json()
        assert rules["allocation"]["pool"] == "800" and rules["wallets"]["evm"]["1"] == evm(1)
        assert (await http.get(f"/epochs/{CHAT}/1/dump.json?chain=solana")).status_code == 404
        proof = await http.get(f"/v1/claims/{CHAT}/1/proof/{evm(2).upper().replace('0X', '0x')}")
        body = proof.json()
        assert body["amount"] == "300" and body["root"] == tree.root
        assert body["distributor"] == evm(99) and body["calldata"].startswith("0x2e7ba6ef")
        leaf = tree.leaf_hash([str(body["index"]), evm(2), "300"])
        assert process_proof(leaf, body["proof"]) == tree.root
        assert proof.headers["content-security-policy"].startswith("default-src 'none'")
        assert (await http.get(f"/v1/claims/{CHAT}/1/proof/{evm(3)}")).status_code == 404
        assert (await http.get(f"/v1/claims/{CHAT}/1/proof/0x12")).status_code == 404
        page = await http.get(f"/claim/{CHAT}/1")
        assert page.status_code == 200 and tree.root in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert (await http.get("/claim/static/claim.js")).status_code == 200
        assert (await http.get("/claim/static/page.html")).status_code == 404
    async with sessions() as session:
        record = await settle_service.find(session=session, chat_id=CHAT, number=1)
    assert record is not None
    assert record.ledger_digest == "sha256:" + hashlib.sha256(ledger).hexdigest()
    assert json.loads(ledger.splitlines()[0])["member_id"] in {1, 2, 3}


async def test_solana_prepare_sign_confirm(sessions: Sessions) -> None:
    world = World()
    member, other = world.members[0], world.members[1]
    await seed(sessions, {10: 1, 11: 1}, solana={10: str(member.pubkey())})
    await close(sessions, POOL)
    world.grant(POOL // 2)
    await publish(sessions, allowance=POOL // 2)
    url = f"/v1/claims/{CHAT}/1"
    async with client(claims_app(sessions, world=world)) as http:
        first = await http.post(f"{url}/solana/prepare", json={"owner": str(member.pubkey())})
        again = await http.post(f"{url}/solana/prepare", json={"owner": str(member.pubkey())})
        assert first.status_code == 200 and first.json()["tx"] == again.json()["tx"]
        stranger = await http.post(f"{url}/solana/prepare", json={"owner": str(other.pubkey())})
        assert stranger.status_code == 404
        early = await http.post(
            f"{url}/confirm", json={"account": str(member.pubkey()), "tx_hash": "1" * 64}
        )
        assert early.status_code == 409
        sent = world.chain.send(sign_as(from_wire(first.json()["tx"]), member))
        done = await http.post(
            f"{url}/confirm",
            json={"account": str(member.pubkey()), "tx_hash": str(sent.signature)},
        )
        assert done.json() == {"status": "confirmed", "tx_hash": str(sent.signature)}
        late = await http.post(f"{url}/solana/prepare", json={"owner": str(member.pubkey())})
        assert late.status_code == 409
    assert await world.chain.token_balance(member.pubkey(), world.mint) == POOL // 2


async def test_solana_unconfigured_answers_503(sessions: Sessions) -> None:
    owner = str(World().members[0].pubkey())
    await seed(sessions, {10: 1}, solana={10: owner})
    await close(sessions, 5)
    await publish(sessions, allowance=5)
    async with client(claims_app(sessions)) as http:
        answer = await http.post(f"/v1/claims/{CHAT}/1/solana/prepare", json={"owner": owner})
    assert answer.status_code == 503
