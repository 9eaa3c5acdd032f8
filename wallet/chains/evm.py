"""Read-only EVM chain adapter on web3.py's ``AsyncWeb3``.

One ``EvmChain`` per configured chain: balances for token gates, code checks and EIP-1271
signature checks for contract wallets. Writing transactions lives in ``wallet.distributor``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eth_typing import ChecksumAddress
    from web3 import AsyncWeb3

# The selector of isValidSignature(bytes32,bytes), which is also its magic answer (EIP-1271).
EIP1271_MAGIC = bytes.fromhex("1626ba7e")

# Only the fragments used here: balanceOf has the same shape on ERC-20 and ERC-721.
BALANCE_OF_ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "balanceOf",
        "stateMutability": "view",
        "inputs": [{"name": "owner", "type": "address"}],
        "outputs": [{"name": "", "type": "uint256"}],
    }
]


class EvmError(Exception):
    """Base class of the adapter's errors."""


class InvalidAddress(EvmError, ValueError):
    """A string that is not a 20-byte hex address (or has a wrong EIP-55 checksum)."""


class ChainIdMismatch(EvmError):
    """The RPC endpoint serves another chain than the one configured."""

    def __init__(self, name: str, expected: int, actual: int) -> None:
        super().__init__(f"chain {name!r}: endpoint reports chain id {actual}, expected {expected}")
        self.expected = expected
        self.actual = actual


def checksum(address: str) -> ChecksumAddress:
    """Validate an address and return its EIP-55 form.

    The ``0x`` prefix is required. All-lowercase and all-uppercase hex digits are accepted;
    mixed case must carry a correct checksum.

    Raises:
        InvalidAddress: when ``address`` is not a valid address.
    """
    # eth_utils loads on first use, not at the gateway's start-up.
    from eth_utils import is_checksum_address, is_hex_address, to_checksum_address

    if not isinstance(address, str) or not address.startswith("0x") or not is_hex_address(address):
        raise InvalidAddress(f"not an EVM address: {address!r}")
    digits = address[2:]
    mixed_case = digits != digits.lower() and digits != digits.upper()
    if mixed_case and not is_checksum_address(address):
        raise InvalidAddress(f"bad EIP-55 checksum: {address!r}")
    return to_checksum_address(address)


class EvmChain:
    """A named EVM chain reached over JSON-RPC.

    Args:
        name: the chain's name in settings, used in error messages.
        chain_id: the EIP-155 chain id the endpoint must serve.
        rpc_url: HTTP JSON-RPC endpoint.
        w3: an existing ``AsyncWeb3`` to use instead of building one from ``rpc_url``.
    """

    def __init__(self, name: str, chain_id: int, rpc_url: str, *, w3: AsyncWeb3 | None = None):
        self.name = name
        self.chain_id = chain_id
        self.rpc_url = rpc_url
        if w3 is None:
            # web3 is slow to import; address checks in this module do not need it.
            from web3 import AsyncHTTPProvider, AsyncWeb3

            w3 = AsyncWeb3(AsyncHTTPProvider(rpc_url))
        self.w3 = w3

    def __repr__(self) -> str:
        return f"EvmChain({self.name!r}, {self.chain_id}, {self.rpc_url!r})"

    async def check_chain_id(self) -> None:
        """Make sure the endpoint serves the configured chain.

        Raises:
            ChainIdMismatch: when it reports another chain id.
        """
        actual = await self.w3.eth.chain_id
        if actual != self.chain_id:
            raise ChainIdMismatch(self.name, self.chain_id, actual)

    async def native_balance(self, address: str) -> int:
        """Balance of the chain's native coin, in wei."""
        return int(await self.w3.eth.get_balance(checksum(address)))

    async def _balance_of(self, token: str, address: str) -> int:
        contract = self.w3.eth.contract(address=checksum(token), abi=BALANCE_OF_ABI)
        return int(await contract.functions.balanceOf(checksum(address)).call())

    async def erc20_balance(self, token: str, address: str) -> int:
        """ERC-20 balance of ``address`` in the token's smallest unit."""
        return await self._balance_of(token, address)

    async def erc721_balance(self, token: str, address: str) -> int:
        """Number of tokens of the ERC-721 collection ``token`` that ``address`` holds."""
        return await self._balance_of(token, address)

    async def has_code(self, address: str) -> bool:
        """Whether a contract is deployed at ``address`` (a contract wallet, not an EOA)."""
        return len(await self.w3.eth.get_code(checksum(address))) > 0

    async def is_valid_signature_1271(self, address: str, hash32: bytes, signature: bytes) -> bool:
        """Ask a contract wallet whether it accepts ``signature`` for ``hash32`` (EIP-1271).

        Args:
            address: the contract wallet.
            hash32: the 32-byte message hash the wallet is asked about.
            signature: the signature bytes, passed through unchanged.

        Returns:
            True only when the call returns the magic value 0x1626ba7e. A revert, an empty
            answer (no contract there) or any other value is False.

        Raises:
            ValueError: when ``hash32`` is not 32 bytes long.
            InvalidAddress: when ``address`` is not an address.
        """
        if len(hash32) != 32:
            raise ValueError("hash32 must be 32 bytes")
        from eth_abi import encode  # with web3: loaded on first use, not at start-up
        from web3.exceptions import ContractLogicError

        data = EIP1271_MAGIC + encode(["bytes32", "bytes"], [hash32, signature])
        try:
            result = await self.w3.eth.call({"to": checksum(address), "data": data})
        except ContractLogicError:
            return False
        # A bytes4 return value is ABI-encoded as one left-aligned 32-byte word.
        return bytes(result[:32]) == EIP1271_MAGIC + bytes(28)

    async def aclose(self) -> None:
        """Close the provider's HTTP session."""
        await self.w3.provider.disconnect()
