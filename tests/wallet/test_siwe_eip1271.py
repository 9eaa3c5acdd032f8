"""SIWE sign-in from a contract wallet: wallet.siwe's EIP-1271 path against DemoContractWallet."""

from datetime import UTC, datetime

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from web3 import AsyncWeb3, HTTPProvider, Web3

from wallet import siwe
from wallet.chains.anvil import Anvil
from wallet.chains.evm import EvmChain
from wallet.distributor import deploy_contract
from wallet.errors import InvalidSignature

pytestmark = pytest.mark.chain

DOMAIN = "townsquare.example"
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def sync_w3(anvil: Anvil) -> Web3:
    return Web3(HTTPProvider(anvil.rpc_url))


@pytest.fixture
async def wallet_and_owner(anvil: Anvil, w3: AsyncWeb3) -> tuple[str, LocalAccount]:
    owner = anvil.accounts[5]
    address = await deploy_contract(
        w3, "DemoContractWallet", (owner.address,), deployer_key=anvil.accounts[0]
    )
    return address, owner


def _message(address: str, chain_id: int, nonce: str) -> str:
    return siwe.SiweMessage(
        domain=DOMAIN,
        address=address,
        statement="Link this wallet to your Townsquare member.",
        uri=f"https://{DOMAIN}/link",
        chain_id=chain_id,
        nonce=nonce,
        issued_at="2025-06-01T11:59:00Z",
        expiration_time="2025-06-01T12:09:00Z",
    ).to_text()


def _sign(text: str, signer: LocalAccount) -> bytes:
    return bytes(Account.sign_message(encode_defunct(text=text), signer.key).signature)


def test_owner_signature_verifies_through_the_contract(
    anvil: Anvil, sync_w3: Web3, wallet_and_owner: tuple[str, LocalAccount]
) -> None:
    address, owner = wallet_and_owner
    nonce = siwe.generate_nonce()
    text = _message(address, anvil.chain_id, nonce)
    signature = _sign(text, owner)
    message = siwe.verify(text, signature, domain=DOMAIN, nonce=nonce, now=NOW, w3=sync_w3)
    assert message.address == address
    # hex works as well as bytes
    siwe.verify(text, "0x" + signature.hex(), domain=DOMAIN, nonce=nonce, now=NOW, w3=sync_w3)


async def test_owner_signature_verifies_async(
    anvil: Anvil, w3: AsyncWeb3, wallet_and_owner: tuple[str, LocalAccount]
) -> None:
    address, owner = wallet_and_owner
    nonce = siwe.generate_nonce()
    text = _message(address, anvil.chain_id, nonce)
    signature = _sign(text, owner)
    message = await siwe.averify(text, signature, domain=DOMAIN, nonce=nonce, now=NOW, w3=w3)
    assert message.address == address
    # The digest the contract is asked about is the EIP-191 hash, as the adapter sees it too.
    chain = EvmChain("anvil", anvil.chain_id, anvil.rpc_url, w3=w3)
    assert await chain.is_valid_signature_1271(address, siwe.eip191_hash(text), signature)


@pytest.mark.parametrize("forgery", ["stranger", "other_text", "truncated"])
async def test_forged_contract_wallet_signature_is_refused(
    anvil: Anvil,
    sync_w3: Web3,
    w3: AsyncWeb3,
    wallet_and_owner: tuple[str, LocalAccount],
    forgery: str,
) -> None:
    address, owner = wallet_and_owner
    nonce = siwe.generate_nonce()
    text = _message(address, anvil.chain_id, nonce)
    if forgery == "stranger":
        signature = _sign(text, anvil.accounts[6])
    elif forgery == "other_text":
        signature = _sign(_message(address, anvil.chain_id, siwe.generate_nonce()), owner)
    else:
        signature = _sign(text, owner)[:64]
    with pytest.raises(InvalidSignature):
        siwe.verify(text, signature, domain=DOMAIN, nonce=nonce, now=NOW, w3=sync_w3)
    with pytest.raises(InvalidSignature):
        await siwe.averify(text, signature, domain=DOMAIN, nonce=nonce, now=NOW, w3=w3)


async def test_contract_wallet_needs_a_chain_client(
    anvil: Anvil, wallet_and_owner: tuple[str, LocalAccount]
) -> None:
    address, owner = wallet_and_owner
    nonce = siwe.generate_nonce()
    text = _message(address, anvil.chain_id, nonce)
    # Without w3 there is no EIP-1271 fallback: the owner's ECDSA signature alone is not the
    # contract wallet's signature.
    with pytest.raises(InvalidSignature):
        siwe.verify(text, _sign(text, owner), domain=DOMAIN, nonce=nonce, now=NOW)
