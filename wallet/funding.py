"""Funding an epoch's claims from the manager's own wallet: the transactions to sign, and the
checks that the chain now holds what members will claim.

EVM: the manager deploys a ``MerkleDistributor`` for the epoch's root (owned by them, so they
withdraw what is left after the deadline) and transfers the EVM total to it. Solana: the
manager's token account approves the epoch's claim authority as delegate for the Solana total.
Nothing is trusted from the page: each check reads the chain.
"""

from __future__ import annotations

from eth_abi import encode
from eth_utils import keccak
from hexbytes import HexBytes
from solders.hash import Hash
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.transaction import Transaction
from web3 import AsyncWeb3

from wallet.chains.evm import checksum
from wallet.chains.solana import SolanaChainIO
from wallet.contracts import load_artifact
from wallet.distributor import distributor_contract, token_contract
from wallet.solana_claims import build_grant_allowance_tx
from wallet.spl import get_associated_token_address

TRANSFER_SELECTOR = keccak(text="transfer(address,uint256)")[:4]


class FundingError(Exception):
    """The chain does not (yet) hold what the epoch's members will claim."""


def deploy_data(*, token: str, root: str, deadline: int, owner: str) -> str:
    """The creation code of a ``MerkleDistributor`` with its constructor arguments, ``0x`` hex.

    Args:
        token: The ERC-20 the distributor pays out.
        root: The epoch's EVM root (``0x`` and 32 bytes).
        deadline: Unix time of the last second claims are accepted.
        owner: The manager's address: may withdraw the rest after the deadline.

    Returns:
        The ``data`` of a contract-creation transaction.
    """
    args = encode(
        ["address", "bytes32", "uint64", "address"],
        [checksum(token), bytes(HexBytes(root)), deadline, checksum(owner)],
    )
    return load_artifact("MerkleDistributor")["bytecode"] + args.hex()


def transfer_data(*, to: str, amount: int) -> str:
    """The ABI-encoded ``transfer(to, amount)`` of an ERC-20, ``0x`` hex."""
    return "0x" + (TRANSFER_SELECTOR + encode(["address", "uint256"], [checksum(to), amount])).hex()


async def check_distributor(
    w3: AsyncWeb3, *, address: str, token: str, root: str, total: int
) -> None:
    """Checks that ``address`` is a distributor of ``root`` paying ``token``, holding ``total``.

    Raises:
        FundingError: No such contract, another root or token, or less than ``total`` in it.
    """
    contract = distributor_contract(w3, address)
    if not await w3.eth.get_code(contract.address):
        raise FundingError(f"no contract at {address}")
    found_root = "0x" + bytes(await contract.functions.merkleRoot().call()).hex()
    if found_root != root.lower():
        raise FundingError(f"the distributor at {address} holds root {found_root}, not {root}")
    found_token = await contract.functions.token().call()
    if checksum(found_token) != checksum(token):
        raise FundingError(f"the distributor at {address} pays {found_token}, not {token}")
    balance = await token_contract(w3, token).functions.balanceOf(contract.address).call()
    if balance < total:
        raise FundingError(f"the distributor holds {balance} of the {total} members can claim")


def treasury_of(owner: Pubkey, mint: Pubkey) -> Pubkey:
    """The manager's treasury: their associated token account of the mint."""
    return get_associated_token_address(owner, mint)


def grant_tx(
    *, owner: Pubkey, mint: Pubkey, decimals: int, authority: Keypair | Pubkey, total: int,
    blockhash: Hash, memo: str,
) -> Transaction:  # fmt: skip
    """The unsigned approval of the claim authority for ``total``, for the owner's wallet."""
    delegate = authority.pubkey() if isinstance(authority, Keypair) else authority
    return build_grant_allowance_tx(
        treasury_owner=owner,
        treasury_token_account=treasury_of(owner, mint),
        mint=mint,
        decimals=decimals,
        claim_authority=delegate,
        amount=total,
        recent_blockhash=blockhash,
        memo=memo,
    )


async def check_delegation(
    chain: SolanaChainIO, *, treasury: Pubkey, authority: Pubkey, total: int
) -> int:
    """Checks that ``authority`` may move at least ``total`` out of ``treasury``.

    Returns:
        The allowance.

    Raises:
        FundingError: Another or no delegate, an allowance below ``total``, or a treasury
            holding less than ``total``.
    """
    delegation = await chain.delegated_amount(treasury)
    if delegation.delegate != authority:
        raise FundingError(f"the claim authority {authority} is not the delegate of {treasury}")
    if delegation.amount < total:
        raise FundingError(
            f"the allowance of {delegation.amount} is smaller than the {total} members can claim"
        )
    account = await chain.token_account(treasury)
    if account is None or account.amount < total:
        held = 0 if account is None else account.amount
        raise FundingError(f"the treasury holds {held} of the {total} members can claim")
    return delegation.amount
