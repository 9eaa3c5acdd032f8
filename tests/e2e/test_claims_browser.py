"""Token claims end to end in the sandbox: in headless Chromium a manager closes and publishes
an epoch from the web chat, then two members follow the bot's claim link and claim from their
own wallets, one on anvil and one on LiteSVM. The injected test wallets sign in Python and
send to the sandbox chains' RPC endpoints, as a browser wallet would."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import pytest
from eth_account.signers.local import LocalAccount
from playwright.async_api import Browser, BrowserContext, Page, expect
from solders.keypair import Keypair
from web3 import AsyncHTTPProvider, AsyncWeb3

from core.models_wallet import WalletLink
from engagement import settle_service
from tests.conftest import RunningGateway
from tests.e2e.conftest import TIMEOUT_MS
from tests.e2e.test_wallet_link_browser import WALLETS_JS, new_member, open_chat, say
from tests.tests_support import SCREENSHOTS, wait_for
from wallet import distributor
from wallet.chains.anvil import dev_accounts
from wallet.solana_claims import sign_as

pytestmark = [pytest.mark.browser, pytest.mark.sandbox_chains]
POOL = 1_000_000

# The link test's wallets, taught to send: transactions go to Python, which signs and sends
# them to the sandbox chains' RPC endpoints.
SENDING_JS = """
(() => {
  const request = window.ethereum.request;
  window.ethereum.request = async ({ method, params }) => {
    if (method === "wallet_switchEthereumChain") return null;
    if (method === "eth_sendTransaction") return await window.tsEvmSend(params[0]);
    if (method === "eth_getTransactionReceipt") return await window.tsEvmReceipt(params[0]);
    return request({ method, params });
  };
  window.solana.signAndSendTransaction = async (bytes) => (
    { signature: await window.tsSolSend(Array.from(bytes)) });
})();
"""


class SendingWallets:
    """A member's EVM key on anvil or Solana key on LiteSVM, and what they sent."""

    def __init__(
        self, chains: Any, *, evm: LocalAccount | None = None, solana: Keypair | None = None
    ) -> None:
        self.chains, self.evm, self.solana = chains, evm, solana
        self.sent: list[str] = []

    async def install(self, context: BrowserContext) -> None:
        await context.expose_function("tsEvmAddress", self.evm_address)
        await context.expose_function("tsEvmSend", self.evm_send)
        await context.expose_function("tsEvmReceipt", self.evm_receipt)
        await context.expose_function("tsSolAddress", self.sol_address)
        await context.expose_function("tsSolSend", self.sol_send)
        await context.add_init_script(WALLETS_JS)
        await context.add_init_script(SENDING_JS)

    def evm_address(self) -> str:
        assert self.evm is not None
        return self.evm.address.lower()  # as MetaMask reports accounts

    def sol_address(self) -> str:
        assert self.solana is not None
        return str(self.solana.pubkey())

    async def evm_send(self, tx: dict[str, str]) -> str:
        assert self.evm is not None and tx["from"].lower() == self.evm.address.lower()
        w3 = AsyncWeb3(AsyncHTTPProvider(self.chains.anvil.rpc_url))
        full = {
            "from": self.evm.address,
            "data": tx["data"],
            "nonce": await w3.eth.get_transaction_count(self.evm.address),
            "chainId": await w3.eth.chain_id,
            "gasPrice": await w3.eth.gas_price,
        }
        if tx.get("to"):
            full["to"] = w3.to_checksum_address(tx["to"])
        full["gas"] = await w3.eth.estimate_gas(full)
        signed = self.evm.sign_transaction(full)
        tx_hash = await w3.eth.send_raw_transaction(signed.raw_transaction)
        await w3.eth.wait_for_transaction_receipt(tx_hash)
        await w3.provider.disconnect()
        self.sent.append(tx_hash.to_0x_hex())
        return self.sent[-1]

    async def evm_receipt(self, tx_hash: str) -> dict[str, Any] | None:
        w3 = AsyncWeb3(AsyncHTTPProvider(self.chains.anvil.rpc_url))
        found = await w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        await w3.provider.disconnect()
        return {"status": found["status"], "contractAddress": found["contractAddress"]}

    async def sol_send(self, raw: list[int]) -> str:
        # As Phantom does: sign as the fee payer, then send through the chain's JSON-RPC.
        from solders.transaction import Transaction

        assert self.solana is not None
        signed = sign_as(Transaction.from_bytes(bytes(raw)), self.solana)
        body = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "sendTransaction",
            "params": [base64.b64encode(bytes(signed)).decode(), {"encoding": "base64"}],
        }
        async with httpx.AsyncClient() as client:
            answer = (await client.post(self.chains.rpc.url, json=body)).json()
        assert "result" in answer, answer
        self.sent.append(answer["result"])
        return self.sent[-1]


async def shot(page: Page, name: str) -> None:
    await page.screenshot(path=str(SCREENSHOTS / f"claims_{name}.png"), full_page=True)


async def open_group(page: Page, base_url: str, member_id: int, group: int) -> None:
    """The web chat as `member_id` in the group (the choice is stored before the chat runs)."""
    await page.goto(f"{base_url}/healthz")
    await page.evaluate(
        "([user, chat]) => { localStorage.setItem('sandbox.user', user); "
        "localStorage.setItem('sandbox.chat', chat); }",
        [str(member_id), str(group)],
    )
    await page.goto(f"{base_url}/")
    await expect(page.get_by_test_id("composer")).to_be_enabled()


async def link(gateway: RunningGateway, member: int, family: str, address: str) -> None:
    async with gateway.gateway.sessions() as session:
        session.add(
            WalletLink(
                member_id=member, chain_family=family, address=address, chain_id="1",
                is_primary=True, message="linked on the link page", signature="-",
            )
        )  # fmt: skip
        await session.commit()


async def claim_from_chat(
    browser: Browser, gateway: RunningGateway, member: int, wallets: SendingWallets, name: str
) -> Page:
    """The member opens the bot's claim link from their private chat and claims."""
    context = await browser.new_context(viewport={"width": 1000, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    await wallets.install(context)
    chat = await context.new_page()
    await open_chat(chat, gateway.base_url, member)
    button = chat.get_by_role("button", name="Claim my tokens")
    await expect(button).to_have_count(1)
    await shot(chat, f"{name}_1_claim_link")
    async with context.expect_page() as opened:
        await button.click()
    page = await opened.value
    await page.wait_for_load_state()
    connect = "Connect an EVM wallet" if wallets.evm is not None else "Connect a Solana wallet"
    await page.get_by_role("button", name=connect).click()
    await expect(page.locator("#claim")).to_be_visible()
    await shot(page, f"{name}_2_claim_page")
    await page.locator("#claim-button").click()
    await expect(page.locator("#status")).to_contain_text("Claim confirmed")
    await shot(page, f"{name}_3_claimed")
    return page


@dataclass
class Town:
    alice: int  # the manager
    bob: int  # claims on anvil
    carol: int  # claims on LiteSVM
    group: int
    chains: Any
    bob_key: LocalAccount = field(default_factory=lambda: dev_accounts(6)[5])
    carol_key: Keypair = field(default_factory=Keypair)


async def town_with_chains(gateway: RunningGateway, api: httpx.AsyncClient) -> Town:
    """A group where Bob and Carol chatted and linked a wallet each, and the chains are up."""
    alice = await new_member(api, "Alice", "alice")
    bob = await new_member(api, "Bob", "bob")
    carol = await new_member(api, "Carol", "carol")
    body = {"title": "Town", "creator_id": alice, "bot": "admin"}
    group = (await api.post("/chats", json=body)).json()["id"]
    for member in (bob, carol):
        await api.post(f"/chats/{group}/members", json={"user_id": member})
        said = {"from_id": member, "text": f"hello from {member}, long enough to count"}
        (await api.post(f"/chats/{group}/messages", json=said)).raise_for_status()
    await gateway.sandbox.wait_idle(TIMEOUT_MS / 1000)
    chains = gateway.gateway.chains
    await wait_for(lambda: asyncio.sleep(0, chains.state != "starting"), what="sandbox chains")
    assert chains.state == "ready", chains.error
    town = Town(alice, bob, carol, group, chains)
    await link(gateway, bob, "evm", town.bob_key.address)
    await link(gateway, carol, "solana", str(town.carol_key.pubkey()))
    return town


async def close_and_publish(chat: Page, *, expect_text: str) -> None:
    """The manager's `/close` and a press on the preview's Publish button."""
    await say(chat, f"/close {POOL}")
    preview = chat.get_by_test_id("message").filter(has_text="Preview:")
    await expect(preview).to_have_count(1)
    await expect(preview).to_contain_text("@bob")
    await shot(chat, "1_preview")
    await preview.get_by_role("button", name="Publish").click()
    await expect(chat.get_by_test_id("message").filter(has_text=expect_text)).to_have_count(1)


async def claim_both(browser: Browser, gateway: RunningGateway, town: Town) -> int:
    """Bob claims on anvil and Carol on LiteSVM from the claim page; returns what they got."""
    chains = town.chains
    token = distributor.token_contract(chains.w3, chains.token)
    before_evm = await token.functions.balanceOf(town.bob_key.address).call()
    before_sol = await chains.solana.token_balance(town.carol_key.pubkey(), chains.mint)
    bob_wallet = SendingWallets(chains, evm=town.bob_key)
    bob_page = await claim_from_chat(browser, gateway, town.bob, bob_wallet, "evm")
    carol_wallet = SendingWallets(chains, solana=town.carol_key)
    carol_page = await claim_from_chat(browser, gateway, town.carol, carol_wallet, "solana")
    after_evm = await token.functions.balanceOf(town.bob_key.address).call()
    after_sol = await chains.solana.token_balance(town.carol_key.pubkey(), chains.mint)
    assert after_evm > before_evm and after_sol > before_sol
    assert str(after_evm - before_evm) == await bob_page.locator("#amount").text_content()
    assert str(after_sol - before_sol) == await carol_page.locator("#amount").text_content()
    assert len(bob_wallet.sent) == len(carol_wallet.sent) == 1
    return int(after_evm - before_evm + after_sol - before_sol)


async def claims_in_mini_app(
    browser: Browser, gateway: RunningGateway, api: httpx.AsyncClient, *, town: Town,
    member: int, scheme: Literal["light", "dark"], name: str,
) -> None:  # fmt: skip
    """The member opens the Mini App from the group (`/app`), goes to Claims, sees "claimed"."""
    said = {"from_id": member, "text": "/app"}
    (await api.post(f"/chats/{town.group}/messages", json=said)).raise_for_status()
    await gateway.sandbox.wait_idle(TIMEOUT_MS / 1000)
    context = await browser.new_context(
        viewport={"width": 1000, "height": 800}, color_scheme=scheme
    )
    context.set_default_timeout(TIMEOUT_MS)
    try:
        chat = await context.new_page()
        await open_group(chat, gateway.base_url, member, town.group)
        await chat.get_by_role("button", name="Open Townsquare").last.click()
        await expect(chat.get_by_test_id("webapp-panel")).to_be_visible()
        app = chat.frame_locator('[data-testid="webapp-frame"]')
        await app.get_by_role("link", name="Claims").click()
        claim = app.get_by_test_id("claim")
        await expect(claim).to_have_count(1)
        await expect(claim.get_by_test_id("claim-status")).to_have_text("claimed")
        await expect(app.get_by_test_id("content")).not_to_contain_text("null")
        await expect(claim.get_by_test_id("claim-link")).to_have_attribute(
            "href", f"/claim/{town.group}/1"
        )
        background = await app.locator("body").evaluate(
            "b => getComputedStyle(b).getPropertyValue('--tg-theme-bg-color').trim()"
        )
        assert (background in ("#ffffff", "#fff")) == (scheme == "light")
        await shot(chat, f"miniapp_{name}_{scheme}")
    finally:
        await context.close()


async def test_manager_publishes_and_two_members_claim_on_both_chains(
    gateway: RunningGateway, browser: Browser, sandbox_api: httpx.AsyncClient
) -> None:
    town = await town_with_chains(gateway, sandbox_api)
    # The manager closes the epoch and publishes it from the group; the operator funds it.
    context = await browser.new_context(viewport={"width": 1100, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    chat = await context.new_page()
    await open_group(chat, gateway.base_url, town.alice, town.group)
    await close_and_publish(chat, expect_text="Epoch 1 is published.")
    await shot(chat, "2_published")
    await context.close()
    async with gateway.gateway.sessions() as session:
        record = await settle_service.find(session=session, chat_id=town.group, number=1)
    assert record is not None and record.distributor is not None

    paid = await claim_both(browser, gateway, town)
    assert paid + int(record.held_back) == POOL
    assert await distributor.is_claimed(town.chains.w3, distributor=record.distributor, index=0)
    # Each member's Claims tab in the Mini App now says so: Bob's from anvil's distributor,
    # Carol's from her confirmed Solana claim.
    await claims_in_mini_app(
        browser, gateway, sandbox_api, town=town, member=town.bob, scheme="light", name="evm"
    )
    await claims_in_mini_app(
        browser, gateway, sandbox_api, town=town, member=town.carol, scheme="dark", name="solana"
    )


async def test_manager_funds_from_their_own_wallets_on_the_funding_page(
    gateway: RunningGateway, browser: Browser, sandbox_api: httpx.AsyncClient
) -> None:
    town = await town_with_chains(gateway, sandbox_api)
    gateway.settings.auto_fund = False  # no operator: the manager's wallets fund the claims
    chains = town.chains
    # The sandbox's demo treasuries are the manager's: their keys play the manager's wallets.
    manager = SendingWallets(chains, evm=chains.operator, solana=chains.treasury_owner)
    context = await browser.new_context(viewport={"width": 1100, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    await manager.install(context)
    chat = await context.new_page()
    await open_group(chat, gateway.base_url, town.alice, town.group)
    await close_and_publish(chat, expect_text="Not published: fund the claims first")
    asked = chat.get_by_test_id("message").filter(has_text="fund the claims first")
    async with context.expect_page() as opened:
        await asked.get_by_role("button", name="Fund from my wallet").click()
    page = await opened.value
    await page.wait_for_load_state()
    await page.get_by_test_id("evm-fund").click()
    await expect(page.get_by_test_id("status")).to_have_text("The distributor is funded.")
    await page.get_by_test_id("solana-fund").click()
    await expect(page.get_by_test_id("status")).to_have_text("The allowance is granted.")
    await expect(page.get_by_test_id("evm-fund")).to_be_disabled()
    await shot(page, "fund_page")
    await asked.get_by_role("button", name="Publish").click()
    published = chat.get_by_test_id("message").filter(has_text="Epoch 1 is published.")
    await expect(published).to_have_count(1)
    await context.close()

    async with gateway.gateway.sessions() as session:
        record = await settle_service.find(session=session, chat_id=town.group, number=1)
    assert record is not None and record.distributor is not None
    contract = distributor.distributor_contract(chains.w3, record.distributor)
    assert await contract.functions.owner().call() == chains.operator.address
    assert record.treasury == str(chains.treasury)
    delegation = await chains.solana.delegated_amount(chains.treasury)
    assert delegation.amount == int(record.allowance or 0) > 0
    assert len(manager.sent) == 3  # deploy, transfer, approve
    await claim_both(browser, gateway, town)
