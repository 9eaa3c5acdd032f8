"""Closing, previewing and publishing an epoch from the group, end to end: the whole gateway
with its sandbox chains (anvil, LiteSVM), people acting through the web chat's API, and
`townsquare epoch verify` run against the published result."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from solders.keypair import Keypair
from typer.testing import CliRunner
from web3 import AsyncWeb3

from bot.cli import app as cli
from core.models_claims import PUBLISHED
from core.models_wallet import WalletLink
from engagement import epochs, settle_service
from tests.bot import test_manage_sandbox as manage
from tests.bot.test_manage_sandbox import gateway_settings  # noqa: F401 (SQLite and PostgreSQL)
from tests.conftest import RunningGateway
from tests.tests_support import wait_for
from wallet import distributor
from wallet.chains.anvil import dev_accounts

pytestmark = pytest.mark.sandbox_chains  # anvil and LiteSVM in the gateway

BOB_EVM = dev_accounts(4)[3].address
POOL = 1_000_000


@dataclass
class Town(manage.Town):
    dave: int = 0  # links nothing; bob links an EVM wallet, carol a Solana one

    async def bot_messages(self, chat_id: int) -> list[dict[str, Any]]:
        messages = await self.ui("GET", f"/chats/{chat_id}/messages")
        return [m for m in messages if m.get("from", {}).get("is_bot")]

    async def last_text(self, chat_id: int) -> str:
        return str((await self.bot_messages(chat_id))[-1].get("text", ""))

    async def press(self, who: int, message: dict[str, Any], label: str) -> None:
        buttons = [b for row in message["reply_markup"]["inline_keyboard"] for b in row]
        data = next(b["callback_data"] for b in buttons if b["text"] == label)
        body = {"message_id": message["message_id"], "user_id": who, "data": data}
        await self.ui("POST", f"/chats/{self.group}/buttons", **body)
        await self.gateway.sandbox.wait_idle(30)


@pytest.fixture
async def town(gateway: RunningGateway) -> Any:
    async with httpx.AsyncClient(base_url=f"{gateway.base_url}/sandbox/ui", timeout=30) as http:
        people = {}
        for name in ("alice", "bob", "carol", "dave"):
            user = await http.post("/users", json={"first_name": name.title(), "username": name})
            people[name] = user.json()["id"]
            (await http.post(f"/users/{people[name]}/private")).raise_for_status()
        body = {"title": "Town", "creator_id": people["alice"], "bot": "admin"}
        group = (await http.post("/chats", json=body)).json()["id"]
        for name in ("bob", "carol", "dave"):
            await http.post(f"/chats/{group}/members", json={"user_id": people[name]})
        world = Town(gateway, http, group, people["alice"], people["bob"], people["carol"])
        world.dave = people["dave"]
        await gateway.sandbox.wait_idle(20)
        yield world


async def link(town: Town, member: int, family: str, address: str) -> None:
    async with town.gateway.gateway.sessions() as session:
        session.add(
            WalletLink(
                member_id=member, chain_family=family, address=address, chain_id="1", message="-",
                signature="-",
                is_primary=True,
            )
        )  # fmt: skip
        await session.commit()


async def chains_ready(gateway: RunningGateway) -> Any:
    chains = gateway.gateway.chains
    await wait_for(lambda: asyncio.sleep(0, chains.state != "starting"), what="sandbox chains")
    assert chains.state == "ready", chains.error
    return chains


async def test_close_preview_publish_and_verify(town: Town) -> None:
    carol_wallet = Keypair()
    for who in (town.bob, town.carol, town.dave, town.bob):
        await town.say(who, f"hello from {who}, a message long enough to count")
    await link(town, town.bob, "evm", BOB_EVM)
    await link(town, town.carol, "solana", str(carol_wallet.pubkey()))
    chains = await chains_ready(town.gateway)

    # Bad input first: nobody but a manager closes, and the pool must be a positive integer.
    await town.say(town.bob, f"/close {POOL}")
    assert await town.last_text(town.group) == "Only the group's administrators can do that."
    await town.say(town.alice, "/close -5")
    assert (await town.last_text(town.group)).startswith("Send /close POOL")

    await town.say(town.alice, f"/close {POOL}")
    preview = (await town.bot_messages(town.group))[-1]
    assert preview["text"].startswith(f"Epoch 1 is closed. Preview: {POOL} base units")
    assert "@bob" in preview["text"] and "Without a wallet" in preview["text"]
    assert "@dave" in preview["text"].split("Without a wallet")[1]
    told = await town.last_text(town.dave)
    assert "you have no wallet linked" in told
    labels = [b["text"] for row in (await town.bot_messages(town.dave))[-1]["reply_markup"]
              ["inline_keyboard"] for b in row]  # fmt: skip
    assert labels == ["Link an EVM wallet", "Link a Solana wallet"]

    await town.press(town.bob, preview, "Publish")  # not a manager: nothing happens
    async with town.gateway.gateway.sessions() as session:
        assert await settle_service.find(session=session, chat_id=town.group, number=1) is None

    await town.press(town.alice, preview, "Publish")
    published = await town.last_text(town.group)
    assert published.startswith("Epoch 1 is published.")
    async with town.gateway.gateway.sessions() as session:
        record = await settle_service.find(session=session, chat_id=town.group, number=1)
        epoch = await epochs.by_number(session=session, chat_id=town.group, number=1)
    assert record is not None and record.state == PUBLISHED and epoch is not None
    assert record.evm_root in published and record.solana_root in published
    # The operator funded both chains with exactly what their members may claim.
    w3: AsyncWeb3 = chains.w3
    token = distributor.token_contract(w3, chains.token)
    funded = await token.functions.balanceOf(record.distributor).call()
    assert record.chain_id == "31337" and funded > 0
    delegation = await chains.solana.delegated_amount(chains.treasury)
    assert int(record.allowance) == delegation.amount > 0
    assert funded + delegation.amount + int(record.held_back) == POOL
    for member in (town.bob, town.carol):
        claim = (await town.bot_messages(member))[-1]
        assert "are ready" in claim["text"]
        button = claim["reply_markup"]["inline_keyboard"][0][0]
        assert button["url"] == f"{town.gateway.base_url}/claim/{town.group}/1"

    # `townsquare epoch verify` recomputes the same roots from the published files.
    env = {"TOWNSQUARE_DATABASE_URL": town.gateway.settings.effective_database_url}
    result = await asyncio.to_thread(
        CliRunner().invoke,
        cli,
        ["epoch", "verify", "--chat", str(town.group), "--epoch", "1"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert "the published roots match" in result.output


async def test_publish_without_operator_asks_the_manager_to_fund(town: Town) -> None:
    await town.say(town.bob, "hello there, this message counts for points")
    await link(town, town.bob, "evm", BOB_EVM)
    chains = await chains_ready(town.gateway)
    await town.say(town.alice, f"/close {POOL}")
    preview = (await town.bot_messages(town.group))[-1]
    chains.state = "starting"  # the operator cannot fund yet, and says so
    await town.press(town.alice, preview, "Publish")
    assert await town.last_text(town.group) == (
        "Not published: the sandbox chains are still starting: try again in a moment"
    )
    chains.state = "ready"
    town.gateway.settings.auto_fund = False
    await town.press(town.alice, preview, "Publish")
    asked = (await town.bot_messages(town.group))[-1]
    assert asked["text"].startswith("Not published: fund the claims first (EVM)")
    fund = asked["reply_markup"]["inline_keyboard"][0][0]
    assert fund["url"] == f"{town.gateway.base_url}/fund/{town.group}/1"
    async with town.gateway.gateway.sessions() as session:
        record = await settle_service.find(session=session, chat_id=town.group, number=1)
    # Frozen, so the funding page has a root to fund, but not published.
    assert record is not None and record.state != PUBLISHED and record.distributor is None


async def test_a_pool_too_small_leaves_the_epoch_open(town: Town) -> None:
    for who in (town.bob, town.carol):
        await town.say(who, f"hello from {who}, a message long enough to count")
    await town.say(town.alice, "/close 1")
    assert (await town.last_text(town.group)).startswith("The epoch was not closed:")
    # Two members cannot both stay within a tenth of the pool.
    await town.say(town.alice, "/close 1000 cap=0.1")
    assert (await town.last_text(town.group)).startswith("The epoch was not closed:")
    async with town.gateway.gateway.sessions() as session:
        current = await epochs.current(session=session, chat_id=town.group)
    assert current is not None and current.number == 1

    for unknown in ("cap=2", "cap=0", "min=-1", "sqrt=1", "squared"):
        await town.say(town.alice, f"/close 1000 {unknown}")
        assert (await town.last_text(town.group)).startswith("Send /close POOL")
    await town.say(town.alice, "/close 1000 min=1 cap=0.5 sqrt")
    preview = (await town.bot_messages(town.group))[-1]
    assert preview["text"].startswith("Epoch 1 is closed. Preview: 1000 base units")
    await town.press(town.alice, preview, "Refresh preview")
    await town.press(town.alice, preview, "Publish")
    async with town.gateway.gateway.sessions() as session:
        record = await settle_service.find(session=session, chat_id=town.group, number=1)
    # The parameters travel with the preview's buttons to the frozen settlement.
    assert record is not None
    assert record.params == {
        "pool": "1000",
        "min_score": 1,
        "cap_share": "0.5",
        "transform": "sqrt",
    }
