"""Wallet linking end to end: headless Chromium drives the sandbox's web chat and the gateway's
link page; injected test wallets (`window.ethereum`, `window.solana`) sign in Python with keys
the test holds, and the bot's confirmation shows up in the sandbox chat.

The gateway is the project's `gateway` fixture: embedded defaults (SQLite), sandbox included.
"""

from __future__ import annotations

import re

import base58
import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from nacl.signing import SigningKey
from playwright.async_api import (
    Browser,
    BrowserContext,
    Locator,
    Page,
    expect,
)

from tests.conftest import RunningGateway
from tests.e2e.conftest import TIMEOUT_MS
from tests.tests_support import SCREENSHOTS
from wallet import linking, siwe, siws
from wallet.link_messages import short_address

pytestmark = pytest.mark.browser

EVM_KEY: LocalAccount = Account.from_key("0x" + "a1" * 32)
SOL_KEY = SigningKey(bytes([0xB2]) * 32)
SOL_ADDRESS = base58.b58encode(bytes(SOL_KEY.verify_key)).decode()

# The test wallets: every answer comes from Python through functions exposed to the page.
WALLETS_JS = """
(() => {
  window.ethereum = {
    async request({ method, params }) {
      if (method === "eth_requestAccounts") return [await window.tsEvmAddress()];
      if (method === "eth_chainId") return "0x1";
      if (method === "personal_sign") return await window.tsEvmSign(params[0], params[1]);
      throw Object.assign(new Error("unsupported method " + method), { code: 4200 });
    },
  };
  window.solana = {
    isPhantom: true,
    publicKey: null,
    async connect() {
      const address = await window.tsSolAddress();
      this.publicKey = { toBase58: () => address, toString: () => address };
      return { publicKey: this.publicKey };
    },
    async signMessage(bytes, display) {
      const signature = await window.tsSolSign(Array.from(bytes), display);
      return { signature: Uint8Array.from(signature), publicKey: this.publicKey };
    },
  };
})();
"""
# Another browser's wallets, found as current extensions announce themselves: EVM through
# EIP-6963 (not `window.ethereum`), Solana through the Wallet Standard (not `window.solana`).
ANNOUNCE_JS = """
(() => {
  const provider = window.ethereum;
  delete window.ethereum;
  const info = { uuid: "0b6c1d8e", name: "Test <Wallet>", icon: "", rdns: "test" };
  const announce = () => window.dispatchEvent(new CustomEvent("eip6963:announceProvider", {
    detail: Object.freeze({ info, provider }),
  }));
  window.addEventListener("eip6963:requestProvider", announce);
  announce();

  const wallet = {
    version: "1.0.0", name: "Standard <Sol>", icon: "data:,", chains: ["solana:mainnet"],
    accounts: [],
    features: {
      "standard:connect": { version: "1.0.0", async connect() {
        const address = await window.tsSolAddress();
        wallet.accounts = [{ address, publicKey: new Uint8Array(32), chains: ["solana:mainnet"],
                             features: ["solana:signMessage"] }];
        return { accounts: wallet.accounts };
      } },
      "solana:signMessage": { version: "1.0.0", async signMessage(...inputs) {
        return Promise.all(inputs.map(async ({ message }) => ({
          signedMessage: message,
          signature: Uint8Array.from(await window.tsSolSign(Array.from(message), "utf8")),
        })));
      } },
    },
  };
  window.addEventListener("wallet-standard:app-ready", ({ detail }) => detail.register(wallet));
  window.dispatchEvent(new CustomEvent("wallet-standard:register-wallet", {
    detail: ({ register }) => register(wallet),
  }));
})();
"""


class Wallets:
    """What the injected wallets sign with, and the texts they were asked to sign."""

    def __init__(self) -> None:
        self.evm = EVM_KEY
        self.solana = SOL_KEY
        self.signed: list[str] = []

    async def install(self, context: BrowserContext, *, announce: bool = False) -> None:
        await context.expose_function("tsEvmAddress", self.evm_address)
        await context.expose_function("tsEvmSign", self.evm_sign)
        await context.expose_function("tsSolAddress", self.sol_address)
        await context.expose_function("tsSolSign", self.sol_sign)
        await context.add_init_script(WALLETS_JS)
        if announce:
            await context.add_init_script(ANNOUNCE_JS)

    def evm_address(self) -> str:
        return self.evm.address.lower()  # as MetaMask reports accounts

    def sol_address(self) -> str:
        return base58.b58encode(bytes(self.solana.verify_key)).decode()

    def evm_sign(self, data: str, address: str) -> str:
        assert address.lower() == self.evm.address.lower()
        text = bytes.fromhex(data.removeprefix("0x")).decode()
        self.signed.append(text)
        signed = Account.sign_message(encode_defunct(text=text), self.evm.key)
        return "0x" + bytes(signed.signature).hex()

    def sol_sign(self, data: list[int], display: str) -> list[int]:
        assert display == "utf8"
        self.signed.append(bytes(data).decode())
        return list(self.solana.sign(bytes(data)).signature)


async def new_member(api: httpx.AsyncClient, first_name: str, username: str) -> int:
    user = (await api.post("/users", json={"first_name": first_name, "username": username})).json()
    (await api.post(f"/users/{user['id']}/private")).raise_for_status()
    return int(user["id"])


async def shot(page: Page, name: str) -> None:
    await page.screenshot(path=str(SCREENSHOTS / f"wallet_link_{name}.png"), full_page=True)


async def open_chat(page: Page, base_url: str, member_id: int) -> None:
    """The web chat as `member_id`, in the private chat with the bot (id = the member's id).

    The choice is stored from another page of the origin first: a running web chat would
    write its own choice over ours.
    """
    await page.goto(f"{base_url}/healthz")
    await page.evaluate(
        "([user]) => { localStorage.setItem('sandbox.user', user); "
        "localStorage.setItem('sandbox.chat', user); }",
        [str(member_id)],
    )
    await page.goto(f"{base_url}/")
    await expect(page.get_by_test_id("composer")).to_be_enabled()


async def say(page: Page, text: str) -> None:
    await page.get_by_test_id("composer").fill(text)
    await page.get_by_test_id("send").click()


async def wallets_message(chat: Page) -> Locator:
    """Sends /wallets and pins the answer by its id (button presses edit it in place)."""
    lists = chat.get_by_test_id("message").filter(has_text="Your linked wallets")
    before = await lists.count()
    await say(chat, "/wallets")
    await expect(lists).to_have_count(before + 1)
    message_id = await lists.last.get_attribute("data-message-id")
    return chat.locator(f'[data-testid="message"][data-message-id="{message_id}"]')


async def link_page(
    context: BrowserContext, chat: Page, button: str, command: str = "/link"
) -> Page:
    """Sends /link (or a deep link's /start) and opens the newest link button's page, as a
    member's click would."""
    before = await chat.get_by_role("button", name=button).count()
    await say(chat, command)
    buttons = chat.get_by_role("button", name=button)
    await expect(buttons).to_have_count(before + 1)
    async with context.expect_page() as opened:
        await buttons.last.click()
    page = await opened.value
    await page.wait_for_load_state()
    return page


async def test_member_links_both_wallets_and_another_member_cannot_take_them(
    gateway: RunningGateway, browser: Browser, sandbox_api: httpx.AsyncClient
) -> None:
    alice = await new_member(sandbox_api, "Alice", "alice")
    bob = await new_member(sandbox_api, "Bob", "bob")
    wallets = Wallets()
    context = await browser.new_context(viewport={"width": 1100, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    await wallets.install(context)
    chat = await context.new_page()
    await open_chat(chat, gateway.base_url, alice)

    # EVM: the URL button opens the link page; the injected wallet signs the issued message.
    page = await link_page(context, chat, "Link an EVM wallet")
    await shot(chat, "1_chat_link_buttons")
    assert page.url.startswith(f"{gateway.base_url}/link/")
    await expect(page.get_by_test_id("member")).to_have_text("@alice")
    await shot(page, "2_evm_page")
    await page.get_by_test_id("connect-evm").click()
    evm_short = short_address(EVM_KEY.address)
    await expect(page.get_by_test_id("done-address")).to_have_text(evm_short)
    await expect(page.get_by_test_id("message")).to_have_text(wallets.signed[-1])
    message = siwe.parse(wallets.signed[-1])
    assert (message.address, message.domain) == (EVM_KEY.address, gateway.settings.public_host)
    assert f"Telegram member {alice} (@alice)" in (message.statement or "")
    await shot(page, "3_evm_linked")
    await expect(chat.get_by_text(f"Linked {evm_short} (EVM)")).to_be_visible()
    await page.close()

    # Solana, through Phantom's injected provider.
    page = await link_page(context, chat, "Link a Solana wallet")
    await page.get_by_test_id("connect-solana").click()
    sol_short = short_address(SOL_ADDRESS)
    await expect(page.get_by_test_id("done-address")).to_have_text(sol_short)
    assert siws.parse(wallets.signed[-1]).address == SOL_ADDRESS
    await shot(page, "4_solana_linked")
    await expect(chat.get_by_text(f"Linked {sol_short} (Solana)")).to_be_visible()
    await page.close()

    # /wallets lists both, each with its Unlink button.
    listing = await wallets_message(chat)
    await expect(listing).to_contain_text(EVM_KEY.address)
    await expect(listing).to_contain_text(SOL_ADDRESS)
    await expect(listing.get_by_role("button", name=re.compile("^Unlink"))).to_have_count(2)
    await shot(chat, "5_wallets")

    # Bob, in another browser, holds the same keys (a sybil): the page refuses, and each
    # conflict is recorded. His wallets announce themselves (EIP-6963, Wallet Standard).
    await context.close()
    context = await browser.new_context(viewport={"width": 1100, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    await Wallets().install(context, announce=True)
    chat = await context.new_page()
    await open_chat(chat, gateway.base_url, bob)
    page = await link_page(context, chat, "Link an EVM wallet")
    await expect(page.get_by_test_id("connect-evm")).to_have_count(0)
    await page.get_by_role("button", name="Connect Test <Wallet>").click()
    await expect(page.get_by_test_id("status")).to_have_text(
        "This wallet is already linked to another member; it must be unlinked there first"
    )
    await expect(page.get_by_test_id("done")).to_be_hidden()
    await shot(page, "6_second_member_refused")
    await page.close()
    page = await link_page(context, chat, "Link a Solana wallet")
    await expect(page.get_by_test_id("connect-solana")).to_have_count(0)
    await page.get_by_role("button", name="Connect Standard <Sol>").click()
    await expect(page.get_by_test_id("status")).to_contain_text("already linked to another")
    await page.close()
    async with gateway.gateway.sessions() as session:
        conflicts = await linking.audit_events(session=session, event="conflict")
        bobs = await linking.active_links(session=session, member_id=bob)
        alices = await linking.active_links(session=session, member_id=alice)
    assert [(c.member_id, c.other_member_id, c.address) for c in conflicts] == [
        (bob, alice, EVM_KEY.address),
        (bob, alice, SOL_ADDRESS),
    ]
    assert bobs == [] and {w.address for w in alices} == {EVM_KEY.address, SOL_ADDRESS}
    await context.close()


async def paste_link(page: Page, key: SigningKey) -> str:
    """Links from "another device": the page shows the exact message, the member signs it
    elsewhere (here: in Python) and pastes the signature. Returns the signed text."""
    address = base58.b58encode(bytes(key.verify_key)).decode()
    await page.get_by_test_id("manual").locator("summary").click()
    await page.get_by_test_id("manual-address").fill(address)
    await page.get_by_test_id("manual-get").click()
    await expect(page.get_by_test_id("signature")).to_be_visible()
    text = await page.get_by_test_id("message").text_content()
    assert text and siws.parse(text).address == address
    signature = base58.b58encode(key.sign(text.encode()).signature).decode()
    await page.get_by_test_id("signature").fill(signature)
    await page.get_by_test_id("verify").click()
    await expect(page.get_by_test_id("done-address")).to_have_text(short_address(address))
    return text


async def test_paste_path_primary_switch_and_unlink_that_asks_first(
    gateway: RunningGateway, browser: Browser, sandbox_api: httpx.AsyncClient
) -> None:
    alice = await new_member(sandbox_api, "Alice", "alice")
    # Alice takes part in a group, then follows its deep link https://t.me/<bot>?start=link_<id>.
    group = (
        await sandbox_api.post(
            "/chats", json={"title": "Town", "creator_id": alice, "bot": "member"}
        )
    ).json()
    said = {"from_id": alice, "text": "hello"}
    (await sandbox_api.post(f"/chats/{group['id']}/messages", json=said)).raise_for_status()
    await gateway.sandbox.wait_idle(TIMEOUT_MS / 1000)
    context = await browser.new_context(viewport={"width": 1100, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    chat = await context.new_page()  # no injected wallet: this browser has none
    await open_chat(chat, gateway.base_url, alice)
    page = await link_page(
        context, chat, "Link a Solana wallet", command=f"/start link_{group['id']}"
    )
    await expect(page.locator("#app")).to_contain_text(f"from group {group['id']}")
    await expect(page.get_by_test_id("wallet-buttons").get_by_role("button")).to_have_count(0)
    await expect(page.locator("#no-wallet")).to_be_visible()
    text = await paste_link(page, SOL_KEY)
    assert f"Telegram member {alice} (@alice) from group {group['id']} on" in text
    await shot(page, "7_pasted_signature")
    await page.reload()  # the token is spent
    await expect(page.get_by_test_id("link-error")).to_contain_text("already used")
    await page.close()
    other = SigningKey(bytes([0xC3]) * 32)
    other_address = base58.b58encode(bytes(other.verify_key)).decode()
    page = await link_page(context, chat, "Link a Solana wallet")
    await paste_link(page, other)
    await page.close()

    # The first wallet of a family is primary; "Make primary" moves it.
    listing = await wallets_message(chat)
    await expect(listing).to_contain_text(f"{SOL_ADDRESS} (primary)")
    await listing.get_by_role("button", name=f"Make {short_address(other_address)} primary").click()
    await expect(listing).to_contain_text(f"{other_address} (primary)")
    await expect(listing).not_to_contain_text(f"{SOL_ADDRESS} (primary)")

    # Unlinking asks first; "No" keeps the wallet, "Yes" unlinks it.
    unlink = listing.get_by_role("button", name=f"Unlink {short_address(other_address)}")
    await unlink.click()
    await expect(listing).to_contain_text("Are you sure?")
    await shot(chat, "8_are_you_sure")
    await listing.get_by_role("button", name="No").click()
    await expect(listing).to_contain_text(other_address)
    await unlink.click()
    await listing.get_by_role("button", name="Yes, unlink").click()
    await expect(listing).to_contain_text(f"Unlinked {short_address(other_address)}.")
    await shot(chat, "9_unlinked")
    async with gateway.gateway.sessions() as session:
        left = await linking.active_links(session=session, member_id=alice)
        events = [e.event for e in await linking.audit_events(session=session, member_id=alice)]
    assert [(w.address, w.is_primary) for w in left] == [(SOL_ADDRESS, True)]
    assert events == ["link", "link", "primary", "unlink", "primary"]
    await context.close()
