"""EVM claims on anvil: settle, deploy the distributor with the root, claim via the API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from web3 import AsyncWeb3

from core.db import create_engine, session_factory, transaction
from core.migrate import upgrade
from engagement import settle_service
from tests.engagement.test_settlement_store import CHAT, Sessions, close, seed
from tests.miniapps.test_claims_api import claims_app, client
from wallet import distributor as dist
from wallet.chains.anvil import Anvil

POOL = 10**21


@pytest.fixture
async def sessions(sqlite_url: str) -> AsyncIterator[Sessions]:
    await asyncio.to_thread(upgrade, sqlite_url)
    engine = create_engine(sqlite_url)
    yield session_factory(engine)
    await engine.dispose()


async def balance(w3: AsyncWeb3, token: str, holder: str) -> int:
    return int(await dist.token_contract(w3, token).functions.balanceOf(holder).call())


async def test_two_members_claim_with_api_proofs(
    sessions: Sessions, anvil: Anvil, w3: AsyncWeb3
) -> None:
    owner, alice, bob, carol = anvil.accounts[:4]
    await seed(sessions, {1: 1, 2: 3, 3: 4}, evm={1: alice.address, 2: bob.address})
    record = await close(sessions, POOL)
    assert record.evm_root is not None
    token = await dist.deploy_token(
        w3, name="Demo", symbol="DEMO", supply=POOL, deployer_key=owner.key
    )
    latest = await w3.eth.get_block("latest")
    address = await dist.deploy_distributor(
        w3,
        token=token,
        merkle_root=record.evm_root,
        claim_deadline=int(latest["timestamp"]) + 86_400,
        owner_key=owner,
    )
    owed = POOL // 8 + POOL * 3 // 8
    await dist.fund(w3, token=token, distributor=address, amount=owed, funder_key=owner)
    async with transaction(sessions) as session:
        await settle_service.publish(
            session=session, chat_id=CHAT, number=1, distributor=address, chain_id="31337"
        )
    url = f"/v1/claims/{CHAT}/1"
    async with client(claims_app(sessions, w3=w3)) as http:
        assert (await http.get(f"{url}/proof/{carol.address}")).status_code == 404
        early = await http.post(
            f"{url}/confirm", json={"account": alice.address, "tx_hash": "0x" + "0" * 64}
        )
        assert early.status_code == 409
        first = (await http.get(f"{url}/proof/{alice.address}")).json()
        # Alice's proof for another account, or for another amount, does not pay.
        for account, amount in ((bob.address, POOL // 8), (alice.address, POOL // 8 + 1)):
            with pytest.raises(dist.DistributorError) as wrong:
                await dist.claim(
                    w3, distributor=address, index=first["index"], account=account,
                    amount=amount, proof=first["proof"], sender_key=carol,
                )  # fmt: skip
            assert wrong.value.name == "InvalidProof"
        for member, amount in ((alice, POOL // 8), (bob, POOL * 3 // 8)):
            proof = (await http.get(f"{url}/proof/{member.address}")).json()
            assert proof["amount"] == str(amount) and proof["distributor"] == address
            # What the page asks the injected wallet to do (EIP-1193 eth_sendTransaction).
            tx = await w3.eth.send_transaction(
                {"from": member.address, "to": address, "data": proof["calldata"]}
            )
            assert (await w3.eth.wait_for_transaction_receipt(tx))["status"] == 1
            assert await balance(w3, token, member.address) == amount
            done = await http.post(
                f"{url}/confirm", json={"account": member.address, "tx_hash": tx.to_0x_hex()}
            )
            assert done.json()["status"] == "confirmed"
        again = (await http.get(f"{url}/proof/{alice.address}")).json()
    with pytest.raises(dist.DistributorError) as replay:
        await dist.claim(
            w3, distributor=address, index=again["index"], account=alice.address,
            amount=int(again["amount"]), proof=again["proof"], sender_key=alice,
        )  # fmt: skip
    assert replay.value.name == "AlreadyClaimed"
    assert await balance(w3, token, address) == 0
