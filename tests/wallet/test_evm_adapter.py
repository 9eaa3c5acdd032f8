"""wallet.chains.evm.EvmChain against anvil: balances, code, chain id, EIP-1271; anvil's own
life: it stops with its block, fails clearly on a busy port, and ends with a process killed
outright."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from eth_account import Account
from web3 import AsyncWeb3

from wallet.chains.anvil import Anvil, AnvilError, death_signal_launcher, find_anvil
from wallet.chains.evm import ChainIdMismatch, EvmChain, InvalidAddress, checksum
from wallet.distributor import deploy_contract, deploy_token, token_contract

pytestmark = pytest.mark.chain

SUPPLY = 1_000_000 * 10**18


@pytest.fixture
async def chain(anvil: Anvil, w3: AsyncWeb3) -> AsyncIterator[EvmChain]:
    evm = EvmChain("anvil", anvil.chain_id, anvil.rpc_url, w3=w3)
    yield evm


def _fresh_address() -> str:
    return Account.create().address


async def test_native_balance(chain: EvmChain, anvil: Anvil) -> None:
    holder = _fresh_address()
    assert await chain.native_balance(holder) == 0
    anvil.rpc("anvil_setBalance", [holder, hex(12345)])
    assert await chain.native_balance(holder) == 12345
    assert await chain.native_balance(holder.lower()) == 12345


async def test_erc20_and_erc721_balance(chain: EvmChain, anvil: Anvil, w3: AsyncWeb3) -> None:
    deployer, other = anvil.accounts[0], anvil.accounts[1]
    token = await deploy_token(w3, name="T", symbol="T", supply=SUPPLY, deployer_key=deployer)
    before = await chain.erc20_balance(token, other.address)
    transfer = token_contract(w3, token).functions.transfer(other.address, 42)
    tx_hash = await transfer.transact({"from": deployer.address})
    await w3.eth.wait_for_transaction_receipt(tx_hash)
    assert await chain.erc20_balance(token, deployer.address) == SUPPLY - 42
    assert await chain.erc20_balance(token, other.address) == before + 42
    # ERC-721's balanceOf(address) has the same selector and return type as ERC-20's.
    assert await chain.erc721_balance(token, other.address) == before + 42


async def test_has_code(chain: EvmChain, anvil: Anvil, w3: AsyncWeb3) -> None:
    token = await deploy_token(w3, name="T", symbol="T", supply=1, deployer_key=anvil.accounts[0])
    assert await chain.has_code(token)
    assert not await chain.has_code(anvil.accounts[0].address)
    assert not await chain.has_code(_fresh_address())


async def test_check_chain_id(anvil: Anvil, w3: AsyncWeb3) -> None:
    await EvmChain("anvil", anvil.chain_id, anvil.rpc_url, w3=w3).check_chain_id()
    wrong = EvmChain("mainnet", 1, anvil.rpc_url)
    with pytest.raises(ChainIdMismatch) as caught:
        await wrong.check_chain_id()
    assert (caught.value.expected, caught.value.actual) == (1, anvil.chain_id)
    assert "mainnet" in str(caught.value)
    await wrong.aclose()


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "0x",
        "0x1234",
        "f39Fd6e51aad88F6F4ce6aB8827279cffFb92266aa",
        "f39fd6e51aad88f6f4ce6ab8827279cfffb92266",
        "0X" + "ab" * 20,
        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb9226g",
        # one letter's case flipped: a wrong EIP-55 checksum
        "0xF39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    ],
)
async def test_invalid_addresses_are_rejected(chain: EvmChain, bad: str) -> None:
    with pytest.raises(InvalidAddress):
        checksum(bad)
    with pytest.raises(InvalidAddress):
        await chain.native_balance(bad)


def test_checksum_accepts_lower_and_upper_case() -> None:
    address = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert checksum(address.lower()) == address
    assert checksum("0x" + address[2:].upper()) == address


@pytest.fixture
async def contract_wallet(anvil: Anvil, w3: AsyncWeb3) -> str:
    owner = anvil.accounts[3]
    return await deploy_contract(
        w3, "DemoContractWallet", (owner.address,), deployer_key=anvil.accounts[0]
    )


async def test_eip1271_accepts_only_the_owner(
    chain: EvmChain, anvil: Anvil, contract_wallet: str
) -> None:
    digest = os.urandom(32)
    owner, stranger = anvil.accounts[3], anvil.accounts[4]
    good = owner.unsafe_sign_hash(digest).signature
    assert await chain.is_valid_signature_1271(contract_wallet, digest, good)
    assert not await chain.is_valid_signature_1271(contract_wallet, os.urandom(32), good)
    bad = stranger.unsafe_sign_hash(digest).signature
    assert not await chain.is_valid_signature_1271(contract_wallet, digest, bad)


@pytest.mark.parametrize("signature", [b"", b"\x01" * 64, b"\x00" * 65, b"\x01" * 66])
async def test_eip1271_malformed_signature_is_false(
    chain: EvmChain, contract_wallet: str, signature: bytes
) -> None:
    assert not await chain.is_valid_signature_1271(contract_wallet, os.urandom(32), signature)


async def test_eip1271_on_non_wallets_is_false(
    chain: EvmChain, anvil: Anvil, w3: AsyncWeb3
) -> None:
    owner = anvil.accounts[3]
    digest = os.urandom(32)
    signature = owner.unsafe_sign_hash(digest).signature
    # an EOA (no code: empty answer) and a contract without the function (reverts)
    token = await deploy_token(w3, name="T", symbol="T", supply=1, deployer_key=anvil.accounts[0])
    for address in (owner.address, token):
        assert not await chain.is_valid_signature_1271(address, digest, signature)


async def test_eip1271_rejects_a_short_hash(chain: EvmChain, contract_wallet: str) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        await chain.is_valid_signature_1271(contract_wallet, b"\x00" * 31, b"")


def test_dev_accounts_are_anvils(anvil: Anvil) -> None:
    assert [a.address.lower() for a in anvil.accounts] == anvil.rpc("eth_accounts")
    assert anvil.accounts[0].address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def test_anvil_stops_and_reaps(tmp_path: Path) -> None:
    node = Anvil(chain_id=4242, accounts=2)
    with node:
        assert node.running
        assert int(node.rpc("eth_chainId"), 16) == 4242
        assert len(node.rpc("eth_accounts")) == 2
        process = node._process
    assert not node.running
    assert process is not None and process.returncode is not None
    node.stop()  # idempotent
    with pytest.raises(AnvilError, match="not running"):
        _ = node.rpc_url


async def test_anvil_async_context_manager() -> None:
    async with Anvil(chain_id=777) as node:
        chain = EvmChain("local", 777, node.rpc_url)
        await chain.check_chain_id()
        await chain.aclose()
    assert not node.running


def test_anvil_on_a_busy_port_fails_clearly() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        node = Anvil(port=busy.getsockname()[1], startup_timeout=5)
        with pytest.raises(AnvilError, match="exited during start-up"):
            node.start()
    assert not node.running


KILLED_OUTRIGHT = """
import time
from wallet.chains.anvil import Anvil
node = Anvil()
node.start()
print(node._process.pid, flush=True)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting for its reaper has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_anvil_ends_when_its_process_is_killed_outright() -> None:
    # SIGKILL runs neither `stop()` nor the atexit hook: only the death signal ends anvil.
    assert death_signal_launcher(), "util-linux's setpriv is missing"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_OUTRIGHT], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    pid = int(child.stdout.readline())
    try:
        assert _alive(pid)
        child.kill()
        child.wait()
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(pid)
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_find_anvil_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(AnvilError, match="npm ci"):
        find_anvil(tmp_path)
    assert find_anvil().is_file()
