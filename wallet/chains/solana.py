"""Solana chain adapter over solana-py's `AsyncClient`, and the claim preparation it serves.

`LiteSvmChain` (wallet.chains.litesvm) offers the same methods over an in-process LiteSVM, so
`prepare_claim` and the gateway run unchanged on either.
"""

from __future__ import annotations

import asyncio
from typing import Any, NamedTuple, Protocol

from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Commitment, Confirmed
from solana.rpc.core import RPCException
from solana.rpc.jsonrpc import JsonRpcRequest
from solana.rpc.models import TxOpts
from solders.hash import Hash
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.rpc.errors import RpcCustomErrorFieldless, SendTransactionPreflightFailureMessage
from solders.signature import Signature
from solders.transaction import Transaction
from solders.transaction_status import TransactionErrorFieldless

from wallet.solana_claims import (
    ClaimError,
    ClaimNotConfirmed,
    ClaimTxFailed,
    build_claim_tx,
    check_allowance,
    failure_error,
)
from wallet.spl import (
    TOKEN_PROGRAM_ID,
    TokenAccount,
    get_associated_token_address,
    parse_token_account,
)

# Same order as `int(TransactionConfirmationStatus)`: processed 0, confirmed 1, finalized 2.
_COMMITMENT_RANK = {"processed": 0, "confirmed": 1, "finalized": 2}


class RecentBlockhash(NamedTuple):
    """A blockhash and the last block height at which transactions using it are accepted."""

    blockhash: Hash
    last_valid_block_height: int


class Delegation(NamedTuple):
    """A token account's delegate and the amount it may still move."""

    delegate: Pubkey | None
    amount: int


class SolanaChainIO(Protocol):
    """What the claim flow needs from a Solana chain (RPC or in-process)."""

    async def sol_balance(self, pubkey: Pubkey) -> int: ...
    async def token_account(self, address: Pubkey) -> TokenAccount | None: ...
    async def token_balance(self, owner: Pubkey, mint: Pubkey) -> int: ...
    async def delegated_amount(self, token_account: Pubkey) -> Delegation: ...
    async def latest_blockhash(self) -> RecentBlockhash: ...
    async def is_blockhash_valid(self, blockhash: Hash) -> bool: ...
    async def send_raw(self, raw: bytes) -> Signature: ...
    async def confirm(self, signature: Signature, *, timeout: float = 30.0) -> int: ...


def delegation_of(account: TokenAccount | None) -> Delegation:
    """The delegation of a parsed token account; a missing account delegates nothing."""
    if account is None or account.delegate is None:
        return Delegation(None, 0)
    return Delegation(account.delegate, account.delegated_amount)


def _rpc_error(exc: RPCException) -> ClaimError:
    detail = exc.args[0] if exc.args else None
    if isinstance(detail, SendTransactionPreflightFailureMessage):
        if detail.data.err is None:
            return ClaimTxFailed(detail.message, logs=detail.data.logs or ())
        return failure_error(detail.data.err, detail.data.logs or ())
    if detail == RpcCustomErrorFieldless.TransactionSignatureVerificationFailure:
        return ClaimTxFailed(
            "transaction signature verification failure",
            err=TransactionErrorFieldless.SignatureFailure,
        )
    return ClaimTxFailed(f"RPC rejected the transaction: {detail}")


class SolanaChain:
    """Chain I/O over any Solana JSON-RPC endpoint through solana-py's `AsyncClient`."""

    def __init__(
        self,
        client: AsyncClient,
        *,
        commitment: Commitment = Confirmed,
        poll_interval: float = 0.4,
    ) -> None:
        """Wrap a client.

        Args:
            client: The RPC client (its lifetime stays with the caller).
            commitment: Commitment for reads, preflight and confirmation.
            poll_interval: Seconds between signature status polls in `confirm`.
        """
        self.client = client
        self.commitment = commitment
        self.poll_interval = poll_interval

    async def sol_balance(self, pubkey: Pubkey) -> int:
        """Lamports held by `pubkey` (0 for a missing account)."""
        return (await self.client.get_balance(pubkey, self.commitment)).value

    async def token_account(self, address: Pubkey) -> TokenAccount | None:
        """The SPL token account at `address`, or None if missing or not a Token account."""
        resp = await self.client.get_account_info(address, self.commitment, encoding="base64")
        account = resp.value
        if account is None or account.owner != TOKEN_PROGRAM_ID:
            return None
        return parse_token_account(bytes(account.data))

    async def token_balance(self, owner: Pubkey, mint: Pubkey) -> int:
        """Base units of `mint` in `owner`'s associated token account (0 if it is missing)."""
        account = await self.token_account(get_associated_token_address(owner, mint))
        return 0 if account is None else account.amount

    async def delegated_amount(self, token_account: Pubkey) -> Delegation:
        """The delegate of `token_account` and the allowance it has left."""
        return delegation_of(await self.token_account(token_account))

    async def latest_blockhash(self) -> RecentBlockhash:
        """A fresh blockhash for a new transaction."""
        value = (await self.client.get_latest_blockhash(self.commitment)).value
        return RecentBlockhash(value.blockhash, value.last_valid_block_height)

    async def is_blockhash_valid(self, blockhash: Hash) -> bool:
        """Whether a transaction built on `blockhash` can still land."""
        # AsyncClient 0.41 has no wrapper for this method; send the raw request.
        params = [str(blockhash), {"commitment": str(self.commitment)}]
        request = JsonRpcRequest(method="isBlockhashValid", params=params)
        result = await self.client.send_rpc_request(request, dict[str, Any])
        return bool(result["value"])

    async def send_raw(self, raw: bytes) -> Signature:
        """Send a signed wire transaction with preflight.

        Args:
            raw: The serialized transaction.

        Returns:
            Its signature.

        Raises:
            BlockhashExpired: The blockhash is no longer valid.
            ClaimTxFailed: Preflight or signature verification failed (with logs if any).
        """
        opts = TxOpts(skip_confirmation=True, preflight_commitment=self.commitment)
        try:
            return (await self.client.send_raw_transaction(raw, opts)).value
        except RPCException as exc:
            raise _rpc_error(exc) from exc

    async def confirm(self, signature: Signature, *, timeout: float = 30.0) -> int:
        """Wait until `signature` reaches the chain's commitment.

        Args:
            signature: The transaction signature.
            timeout: Seconds to wait.

        Returns:
            The slot it landed in.

        Raises:
            ClaimTxFailed: It landed and failed.
            ClaimNotConfirmed: It was not confirmed within `timeout`.
        """
        wanted = _COMMITMENT_RANK[str(self.commitment)]
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            status = (await self.client.get_signature_statuses([signature])).value[0]
            if status is not None:
                if status.err is not None:
                    raise failure_error(status.err)
                level = status.confirmation_status
                if level is not None and int(level) >= wanted:
                    return status.slot
            if asyncio.get_running_loop().time() >= deadline:
                raise ClaimNotConfirmed(f"{signature} not confirmed within {timeout} s")
            await asyncio.sleep(self.poll_interval)


class PreparedClaim(NamedTuple):
    """A claim transaction signed by the claim authority, and when its blockhash expires."""

    tx: Transaction
    last_valid_block_height: int


async def prepare_claim(
    chain: SolanaChainIO,
    *,
    member: Pubkey,
    mint: Pubkey,
    decimals: int,
    treasury_token_account: Pubkey,
    claim_authority: Keypair,
    amount: int,
    memo: str,
) -> PreparedClaim:
    """Check the treasury's allowance, then build the member's claim on a fresh blockhash.

    Args:
        chain: Where the treasury lives.
        member: The member's wallet (fee payer, last signer).
        mint: The pool's mint.
        decimals: The mint's decimals.
        treasury_token_account: The treasury account the allowance is drawn on.
        claim_authority: The campaign's delegate.
        amount: The member's allocation.
        memo: The claim memo.

    Returns:
        The partially signed claim for the member's wallet.

    Raises:
        AllowanceTooSmall: The claim authority's remaining allowance is below `amount`.
    """
    delegation = await chain.delegated_amount(treasury_token_account)
    check_allowance(
        delegate=delegation.delegate,
        delegated_amount=delegation.amount,
        claim_authority=claim_authority.pubkey(),
        amount=amount,
    )
    recent = await chain.latest_blockhash()
    tx = build_claim_tx(
        member=member,
        mint=mint,
        decimals=decimals,
        treasury_token_account=treasury_token_account,
        claim_authority=claim_authority,
        amount=amount,
        memo=memo,
        recent_blockhash=recent.blockhash,
    )
    return PreparedClaim(tx, recent.last_valid_block_height)
