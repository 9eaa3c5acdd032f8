"""The funding API on the running sandbox gateway and its chains: the manager's transactions
are prepared, signed here as a wallet would, and nothing is recorded until the chain shows it.
Also: what claims answer while the sandbox chains are still starting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from eth_account.signers.local import LocalAccount
from solders.keypair import Keypair
from web3 import AsyncWeb3

from engagement import settle_service
from tests.conftest import RunningGateway
from tests.engagement.test_settlement_store import CHAT, close, evm, seed
from tests.tests_support import wait_for
from wallet import distributor, funding
from wallet.solana_claims import from_wire, sign_as

pytestmark = pytest.mark.sandbox_chains  # anvil and LiteSVM in the gateway

POOL = 1_000_000
MEMBER = Keypair()
URL = f"/v1/funding/{CHAT}/1"


@pytest.fixture
async def chains(gateway: RunningGateway) -> Any:
    found = gateway.gateway.chains
    await wait_for(lambda: asyncio.sleep(0, found.state != "starting"), what="sandbox chains")
    assert found.state == "ready", found.error
    return found


@pytest.fixture
async def http(gateway: RunningGateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=30) as client:
        yield client


async def frozen(gateway: RunningGateway) -> None:
    """Epoch 1 of CHAT closed and frozen: member 1 paid on EVM, member 2 on Solana."""
    sessions = gateway.gateway.sessions
    await seed(sessions, {1: 1, 2: 3}, evm={1: evm(1)}, solana={2: str(MEMBER.pubkey())})
    await close(sessions, POOL)


async def send_evm(w3: AsyncWeb3, account: LocalAccount, tx: dict[str, Any]) -> Any:
    full = {
        "from": account.address,
        "nonce": await w3.eth.get_transaction_count(account.address),
        "chainId": await w3.eth.chain_id,
        "gasPrice": await w3.eth.gas_price,
        **tx,
    }
    full["gas"] = await w3.eth.estimate_gas(full)
    tx_hash = await w3.eth.send_raw_transaction(account.sign_transaction(full).raw_transaction)
    return await w3.eth.wait_for_transaction_receipt(tx_hash)


async def test_evm_funding_is_recorded_only_once_the_chain_holds_the_total(
    gateway: RunningGateway, http: httpx.AsyncClient, chains: Any
) -> None:
    assert (await http.get(URL)).status_code == 404  # nothing frozen yet
    await frozen(gateway)
    plan = (await http.get(URL)).json()
    total, root = int(plan["evm"]["total"]), plan["evm"]["root"]
    assert total == POOL // 4 and plan["evm"]["distributor"] is None
    owner = chains.operator
    bad = await http.post(f"{URL}/evm/prepare", json={"owner": "0x" + "zz" * 20})
    assert bad.status_code == 422 and "not an EVM address" in bad.json()["detail"]

    # A distributor of another root is refused, funded or not.
    other = await distributor.deploy_distributor(
        chains.w3, token=chains.token, merkle_root="0x" + "ab" * 32,
        claim_deadline=2**40, owner_key=owner,
    )  # fmt: skip
    refused = await http.post(f"{URL}/evm/confirm", json={"distributor": other})
    assert refused.status_code == 409 and "holds root" in refused.json()["detail"]

    prepared = (await http.post(f"{URL}/evm/prepare", json={"owner": owner.address})).json()
    deployed = await send_evm(chains.w3, owner, {"data": prepared["data"]})
    address = deployed["contractAddress"]
    empty = await http.post(f"{URL}/evm/confirm", json={"distributor": address})
    assert empty.status_code == 409 and f"holds 0 of the {total}" in empty.json()["detail"]
    transfer = funding.transfer_data(to=address, amount=total)
    await send_evm(chains.w3, owner, {"to": chains.token, "data": transfer})
    done = await http.post(f"{URL}/evm/confirm", json={"distributor": address})
    assert done.status_code == 200 and done.json()["evm"]["distributor"] == address
    contract = distributor.distributor_contract(chains.w3, address)
    assert "0x" + bytes(await contract.functions.merkleRoot().call()).hex() == root
    assert await contract.functions.owner().call() == owner.address


async def test_solana_allowance_below_the_total_is_refused(
    gateway: RunningGateway, http: httpx.AsyncClient, chains: Any
) -> None:
    await frozen(gateway)
    total = int((await http.get(URL)).json()["solana"]["total"])
    manager = chains.treasury_owner
    blockhash = (await chains.solana.latest_blockhash()).blockhash
    short = funding.grant_tx(
        owner=manager.pubkey(), mint=chains.mint, decimals=chains.decimals,
        authority=chains.claim_authority(CHAT), total=total - 1, blockhash=blockhash,
        memo="short",
    )  # fmt: skip
    chains.solana.send(sign_as(short, manager))
    body = {"owner": str(manager.pubkey())}
    refused = await http.post(f"{URL}/solana/confirm", json=body)
    assert refused.status_code == 409
    assert f"allowance of {total - 1} is smaller than the {total}" in refused.json()["detail"]

    prepared = (await http.post(f"{URL}/solana/prepare", json=body)).json()
    chains.solana.send(sign_as(from_wire(prepared["tx"]), manager))
    done = await http.post(f"{URL}/solana/confirm", json=body)
    assert done.status_code == 200
    assert done.json()["solana"]["treasury"] == str(chains.treasury)
    assert done.json()["solana"]["allowance"] == str(total)
    stranger = await http.post(f"{URL}/solana/confirm", json={"owner": str(Keypair().pubkey())})
    assert stranger.status_code == 409 and "not the delegate" in stranger.json()["detail"]


async def test_claims_say_the_chains_are_still_starting(
    gateway: RunningGateway, http: httpx.AsyncClient, chains: Any
) -> None:
    await frozen(gateway)
    async with gateway.gateway.sessions() as session:
        await settle_service.publish(
            session=session, chat_id=CHAT, number=1, treasury=str(chains.treasury),
            mint=str(chains.mint), allowance=POOL,
        )  # fmt: skip
        await session.commit()
    chains.state = "starting"
    try:
        page = await http.get(f"/claim/{CHAT}/1")
        assert page.status_code == 200 and "still starting" in page.text
        prepare = await http.post(
            f"/v1/claims/{CHAT}/1/solana/prepare", json={"owner": str(MEMBER.pubkey())}
        )
        assert prepare.status_code == 503 and "still starting" in prepare.json()["detail"]
        assert (await http.get(URL)).status_code == 503
    finally:
        chains.state = "ready"
    ready = (await http.get(f"/claim/{CHAT}/1")).text
    assert "still starting" not in ready and "Sandbox chains:" not in page.text
    assert chains.anvil.rpc_url in ready and chains.rpc.url in ready  # for wallets to add
    published = await http.get(URL)
    assert published.status_code == 409 and "already published" in published.json()["detail"]


async def test_a_later_epoch_keeps_the_earlier_epochs_claims_payable(
    gateway: RunningGateway, http: httpx.AsyncClient, chains: Any
) -> None:
    """A token account has one delegate: a group's epochs share one claim authority, and the
    allowance granted for epoch 2 also covers what epoch 1's members have not claimed yet."""
    sessions = gateway.gateway.sessions
    manager = chains.treasury_owner
    body = {"owner": str(manager.pubkey())}
    await frozen(gateway)
    first = (await http.post(f"{URL}/solana/prepare", json=body)).json()
    owed_first = int(first["total"])
    chains.solana.send(sign_as(from_wire(first["tx"]), manager))
    assert (await http.post(f"{URL}/solana/confirm", json=body)).status_code == 200
    async with sessions() as session:
        await settle_service.publish(
            session=session, chat_id=CHAT, number=1, treasury=str(chains.treasury),
            mint=str(chains.mint), allowance=owed_first,
        )  # fmt: skip
        await session.commit()

    later = Keypair()
    await seed(sessions, {3: 5}, solana={3: str(later.pubkey())})  # into epoch 2, now open
    await asyncio.sleep(1.1)  # epoch 2 began at the close of epoch 1, and ends a second later
    await close(sessions, POOL, number=2)
    second = f"/v1/funding/{CHAT}/2"
    plan = (await http.get(second)).json()
    assert plan["solana"]["claim_authority"] == str(chains.claim_authority(CHAT).pubkey())
    prepared = (await http.post(f"{second}/solana/prepare", json=body)).json()
    assert int(prepared["total"]) == int(plan["solana"]["total"]) + owed_first
    chains.solana.send(sign_as(from_wire(prepared["tx"]), manager))
    granted = await http.post(f"{second}/solana/confirm", json=body)
    assert granted.status_code == 200, granted.text
    assert granted.json()["solana"]["allowance"] == prepared["total"]

    # Epoch 1's member still claims, from their own wallet; once paid, it is owed no more.
    await chains.give_gas(evm=[], solana=[str(MEMBER.pubkey())])
    claim = await http.post(
        f"/v1/claims/{CHAT}/1/solana/prepare", json={"owner": str(MEMBER.pubkey())}
    )
    assert claim.status_code == 200, claim.text
    sent = chains.solana.send(sign_as(from_wire(claim.json()["tx"]), MEMBER))
    confirmed = await http.post(
        f"/v1/claims/{CHAT}/1/confirm",
        json={"account": str(MEMBER.pubkey()), "tx_hash": str(sent.signature)},
    )
    assert confirmed.json()["status"] == "confirmed"
    async with sessions() as session:
        owed = await settle_service.solana_outstanding(
            session=session, chat_id=CHAT, treasury=str(chains.treasury), excluding=0
        )
    assert owed == 0


async def test_the_demo_tokens_have_the_same_decimals_on_both_chains(chains: Any) -> None:
    """One allocation in base units pays both chains: the same base units are the same tokens."""
    token = distributor.token_contract(chains.w3, chains.token)
    assert await token.functions.decimals().call() == chains.decimals == 9
