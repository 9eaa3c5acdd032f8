"""Thin async helpers around the ``MerkleDistributor`` contract (and ``DemoToken`` for demos).

Every write is estimated first, so a call that would revert raises ``DistributorError`` with
the contract's custom error name (``AlreadyClaimed``, ``InvalidProof``, ...) before anything is
sent. Keys stay with the caller: each write takes the signer's key or ``LocalAccount``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from eth_abi import decode
from eth_abi.exceptions import DecodingError
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils import function_signature_to_4byte_selector, to_checksum_address
from eth_utils.abi import abi_to_signature, get_abi_input_types
from hexbytes import HexBytes
from web3 import AsyncWeb3
from web3.contract import AsyncContract
from web3.exceptions import ContractLogicError
from web3.types import TxReceipt

from wallet.chains.evm import checksum
from wallet.contracts import load_artifact

Signer = LocalAccount | str | bytes
RECEIPT_TIMEOUT = 60.0

_BUILTIN_ERRORS = {
    function_signature_to_4byte_selector("Error(string)"): ("Error", ["string"]),
    function_signature_to_4byte_selector("Panic(uint256)"): ("Panic", ["uint256"]),
}


class DistributorError(Exception):
    """A distributor or token call reverted.

    ``name`` is the Solidity error's name (``"AlreadyClaimed"``, ``"InvalidProof"``, ...) and
    ``error_args`` its decoded arguments (addresses checksummed).
    """

    def __init__(self, name: str, args: tuple[Any, ...] = ()) -> None:
        super().__init__(f"{name}{args}" if args else name)
        self.name = name
        self.error_args = args


class TransactionFailed(Exception):
    """A sent transaction was mined with status 0."""


@cache
def _known_errors() -> dict[bytes, tuple[str, list[str]]]:
    # The distributor's own errors plus OpenZeppelin's ERC-20 errors, which bubble up
    # unchanged through SafeERC20.
    errors = dict(_BUILTIN_ERRORS)
    for name in ("MerkleDistributor", "DemoToken"):
        for item in load_artifact(name)["abi"]:
            if item["type"] == "error":
                selector = function_signature_to_4byte_selector(abi_to_signature(item))
                errors[selector] = (item["name"], list(get_abi_input_types(item)))
    return errors


def decode_error(data: bytes | str) -> DistributorError:
    """Turn revert data into a ``DistributorError`` named after the Solidity error.

    Args:
        data: the revert data (bytes or 0x-hex): a 4-byte selector and ABI-encoded arguments.

    Returns:
        The error; its name is ``"Unknown"`` (with the raw hex as argument) when the selector
        is not one of the distributor's or the token's errors.
    """
    raw = bytes(HexBytes(data))
    known = _known_errors().get(raw[:4])
    if known is None:
        return DistributorError("Unknown", ("0x" + raw.hex(),))
    name, types = known
    try:
        values = decode(types, raw[4:])
    except DecodingError:
        return DistributorError("Unknown", ("0x" + raw.hex(),))
    args = tuple(
        to_checksum_address(value) if kind == "address" else value
        for kind, value in zip(types, values, strict=True)
    )
    return DistributorError(name, args)


def _revert_error(exc: ContractLogicError) -> DistributorError:
    data = exc.data
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x") and len(data) >= 10:
        return decode_error(data)
    return DistributorError("Revert", (exc.message or "",))


def distributor_contract(w3: AsyncWeb3, address: str) -> AsyncContract:
    """A contract object for the distributor at ``address`` (for events and extra reads)."""
    return w3.eth.contract(address=checksum(address), abi=load_artifact("MerkleDistributor")["abi"])


def token_contract(w3: AsyncWeb3, address: str) -> AsyncContract:
    """A contract object for an ERC-20 at ``address`` with the DemoToken ABI."""
    return w3.eth.contract(address=checksum(address), abi=load_artifact("DemoToken")["abi"])


async def _send(w3: AsyncWeb3, call: Any, signer: Signer) -> TxReceipt:
    account = signer if isinstance(signer, LocalAccount) else Account.from_key(signer)
    params = {
        "from": account.address,
        "nonce": await w3.eth.get_transaction_count(account.address, "pending"),
        "chainId": await w3.eth.chain_id,
    }
    try:
        # Estimate against the pending block: its timestamp is the one the transaction will
        # most likely get, which is what deadline checks depend on.
        gas = await call.estimate_gas(params, block_identifier="pending")
    except ContractLogicError as exc:
        raise _revert_error(exc) from exc
    tx = await call.build_transaction({**params, "gas": gas})
    signed = account.sign_transaction(tx)
    tx_hash = await w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = await w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT)
    if receipt["status"] != 1:
        raise TransactionFailed(f"transaction {tx_hash.to_0x_hex()} reverted")
    return receipt


async def deploy_contract(
    w3: AsyncWeb3, name: str, args: Sequence[Any], *, deployer_key: Signer
) -> ChecksumAddress:
    """Deploy any committed artifact (e.g. ``DemoContractWallet``) with constructor ``args``.

    Returns:
        The new contract's address.

    Raises:
        DistributorError: when the constructor reverts.
    """
    artifact = load_artifact(name)
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = await _send(w3, factory.constructor(*args), deployer_key)
    address = receipt["contractAddress"]
    if address is None:
        raise TransactionFailed(f"deploying {name} created no contract")
    return checksum(address)


async def deploy_token(
    w3: AsyncWeb3, *, name: str, symbol: str, supply: int, deployer_key: Signer
) -> ChecksumAddress:
    """Deploy a ``DemoToken`` whose whole ``supply`` goes to the deployer.

    Returns:
        The token's address.
    """
    return await deploy_contract(w3, "DemoToken", (name, symbol, supply), deployer_key=deployer_key)


def _root_bytes(merkle_root: bytes | str) -> bytes:
    root = bytes(HexBytes(merkle_root))
    if len(root) != 32:
        raise ValueError("merkle_root must be 32 bytes")
    return root


async def deploy_distributor(
    w3: AsyncWeb3,
    *,
    token: str,
    merkle_root: bytes | str,
    claim_deadline: int,
    owner_key: Signer,
    owner: str | None = None,
) -> ChecksumAddress:
    """Deploy a ``MerkleDistributor``.

    Args:
        w3: connection to the chain.
        token: the ERC-20 it pays out.
        merkle_root: the StandardMerkleTree root (32 bytes or 0x-hex).
        claim_deadline: unix time of the last second claims are accepted; must be in the future.
        owner_key: key of the deploying account.
        owner: the account that may withdraw after the deadline; the deployer by default.

    Returns:
        The distributor's address.

    Raises:
        DistributorError: ``DeadlineInPast`` when the deadline is not after the current block.
    """
    deployer = owner_key if isinstance(owner_key, LocalAccount) else Account.from_key(owner_key)
    initial_owner = checksum(owner) if owner is not None else deployer.address
    args = (checksum(token), _root_bytes(merkle_root), claim_deadline, initial_owner)
    return await deploy_contract(w3, "MerkleDistributor", args, deployer_key=deployer)


async def fund(
    w3: AsyncWeb3, *, token: str, distributor: str, amount: int, funder_key: Signer
) -> TxReceipt:
    """Transfer ``amount`` of ``token`` from the funder to the distributor."""
    call = token_contract(w3, token).functions.transfer(checksum(distributor), amount)
    return await _send(w3, call, funder_key)


async def claim(
    w3: AsyncWeb3,
    *,
    distributor: str,
    index: int,
    account: str,
    amount: int,
    proof: Sequence[bytes | str],
    sender_key: Signer,
) -> TxReceipt:
    """Claim leaf ``index`` for ``account``; anyone may send it, the tokens go to ``account``.

    Raises:
        DistributorError: ``AlreadyClaimed``, ``InvalidProof`` or ``ClaimWindowClosed``.
    """
    contract = distributor_contract(w3, distributor)
    proof_bytes = [bytes(HexBytes(node)) for node in proof]
    call = contract.functions.claim(index, checksum(account), amount, proof_bytes)
    return await _send(w3, call, sender_key)


async def is_claimed(w3: AsyncWeb3, *, distributor: str, index: int) -> bool:
    """Whether leaf ``index`` has been claimed."""
    return bool(await distributor_contract(w3, distributor).functions.isClaimed(index).call())


async def withdraw(w3: AsyncWeb3, *, distributor: str, to: str, owner_key: Signer) -> TxReceipt:
    """Send the unclaimed balance to ``to`` after the deadline (owner only).

    Raises:
        DistributorError: ``ClaimWindowOpen`` before the deadline,
            ``OwnableUnauthorizedAccount`` when the signer is not the owner.
    """
    call = distributor_contract(w3, distributor).functions.withdraw(checksum(to))
    return await _send(w3, call, owner_key)
