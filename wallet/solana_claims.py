"""Non-custodial Solana claims: pure transaction builders and the claim errors.

The manager's treasury token account keeps custody and approves a per-campaign claim authority
as SPL Token delegate for exactly the pool. A claim transaction pays one member from the treasury
through that delegate; the member is the fee payer and signs last from their own wallet.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import Transaction
from solders.transaction_status import TransactionErrorFieldless, TransactionErrorType

from wallet.spl import (
    ASSOCIATED_TOKEN_PROGRAM_ID,
    MEMO_PROGRAM_ID,
    TOKEN_PROGRAM_ID,
    approve_checked_ix,
    create_ata_idempotent_ix,
    get_associated_token_address,
    initialize_mint2_ix,
    memo_ix,
    mint_to_ix,
    revoke_ix,
    transfer_checked_ix,
)

__all__ = [
    "ASSOCIATED_TOKEN_PROGRAM_ID",
    "MEMO_PROGRAM_ID",
    "TOKEN_PROGRAM_ID",
    "AllowanceTooSmall",
    "AlreadyClaimed",
    "BlockhashExpired",
    "ClaimError",
    "ClaimNotConfirmed",
    "ClaimTxFailed",
    "approve_checked_ix",
    "build_claim_tx",
    "build_grant_allowance_tx",
    "check_allowance",
    "claim_memo",
    "create_ata_idempotent_ix",
    "failure_error",
    "from_wire",
    "get_associated_token_address",
    "initialize_mint2_ix",
    "memo_ix",
    "missing_signers",
    "mint_to_ix",
    "revoke_ix",
    "sign_as",
    "to_wire",
    "transfer_checked_ix",
]


class ClaimError(Exception):
    """Base of every Solana claim failure."""


class AllowanceTooSmall(ClaimError):
    """The claim authority may not move the requested amount out of the treasury."""

    def __init__(self, *, requested: int, available: int, delegate: Pubkey | None) -> None:
        self.requested = requested
        self.available = available
        self.delegate = delegate
        super().__init__(
            f"claim of {requested} exceeds the allowance of {available} (delegate {delegate})"
        )


class BlockhashExpired(ClaimError):
    """The transaction's recent blockhash is no longer accepted; build a new one."""


class AlreadyClaimed(ClaimError):
    """The member already claimed this epoch (raised by the caller that records claims)."""


class ClaimNotConfirmed(ClaimError):
    """The chain does not know the signature (never landed, or not yet within the wait)."""


class ClaimTxFailed(ClaimError):
    """The chain rejected or failed the transaction; `logs` holds the program logs."""

    def __init__(
        self, message: str, *, logs: Sequence[str] = (), err: TransactionErrorType | None = None
    ) -> None:
        self.logs = tuple(logs)
        self.err = err
        super().__init__(message)


def failure_error(err: TransactionErrorType, logs: Sequence[str] = ()) -> ClaimError:
    """Map a transaction error reported by the chain to the matching claim error.

    Args:
        err: The runtime's transaction error.
        logs: The program logs of the failed execution.

    Returns:
        `BlockhashExpired` for an unknown blockhash, otherwise `ClaimTxFailed`.
    """
    if err == TransactionErrorFieldless.BlockhashNotFound:
        return BlockhashExpired("the transaction's blockhash has expired")
    return ClaimTxFailed(f"transaction failed: {err}", logs=logs, err=err)


def check_allowance(
    *, delegate: Pubkey | None, delegated_amount: int, claim_authority: Pubkey, amount: int
) -> None:
    """Refuse a claim the treasury's current delegation cannot cover.

    Args:
        delegate: The treasury token account's delegate, or None.
        delegated_amount: The remaining allowance of that delegate.
        claim_authority: The delegate the claim will be signed by.
        amount: The claim.

    Raises:
        AllowanceTooSmall: Another (or no) delegate is set, or the allowance is below `amount`.
    """
    available = delegated_amount if delegate == claim_authority else 0
    if amount > available:
        raise AllowanceTooSmall(requested=amount, available=available, delegate=delegate)


def claim_memo(chat_id: int, epoch: int, index: int) -> str:
    """The memo that names a claim: `townsquare:claim:<chat_id>:<epoch>:<index>`."""
    return f"townsquare:claim:{chat_id}:{epoch}:{index}"


def build_grant_allowance_tx(
    *,
    treasury_owner: Pubkey,
    treasury_token_account: Pubkey,
    mint: Pubkey,
    decimals: int,
    claim_authority: Pubkey,
    amount: int,
    recent_blockhash: Hash,
    memo: str | None = None,
) -> Transaction:
    """Build the unsigned `ApproveChecked` that the manager signs from their own wallet.

    Args:
        treasury_owner: The manager's wallet: owner of the treasury account and fee payer.
        treasury_token_account: The account that keeps the pool.
        mint: The pool's mint.
        decimals: The mint's decimals.
        claim_authority: The campaign's delegate held by the gateway.
        amount: The pool; replaces any earlier allowance of the account.
        recent_blockhash: A recent blockhash.
        memo: An optional memo naming the epoch.

    Returns:
        The unsigned transaction (treasury owner's signature slot empty).
    """
    ixs = [
        approve_checked_ix(
            treasury_token_account,
            mint,
            claim_authority,
            treasury_owner,
            amount=amount,
            decimals=decimals,
        )
    ]
    if memo is not None:
        ixs.append(memo_ix(memo))
    message = Message.new_with_blockhash(ixs, treasury_owner, recent_blockhash)
    return Transaction.new_unsigned(message)


def build_claim_tx(
    *,
    member: Pubkey,
    mint: Pubkey,
    decimals: int,
    treasury_token_account: Pubkey,
    claim_authority: Keypair,
    amount: int,
    memo: str,
    recent_blockhash: Hash,
) -> Transaction:
    """Build a claim: create the member's ATA, `TransferChecked` by the delegate, and a memo.

    Args:
        member: The member's wallet: fee payer, ATA owner, last signer.
        mint: The pool's mint.
        decimals: The mint's decimals.
        treasury_token_account: The treasury account the allowance is drawn on.
        claim_authority: The campaign's delegate; signs here.
        amount: The member's allocation in base units (positive).
        memo: The claim memo (see `claim_memo`).
        recent_blockhash: A recent blockhash; the claim lives until it expires.

    Returns:
        The transaction signed by the claim authority, the member's slot left default.

    Raises:
        ValueError: `amount` is not positive.
    """
    if amount <= 0:
        raise ValueError("a claim moves a positive amount")
    dest = get_associated_token_address(member, mint)
    ixs = [
        create_ata_idempotent_ix(member, member, mint),
        transfer_checked_ix(
            treasury_token_account,
            mint,
            dest,
            claim_authority.pubkey(),
            amount=amount,
            decimals=decimals,
        ),
        memo_ix(memo),
    ]
    message = Message.new_with_blockhash(ixs, member, recent_blockhash)
    tx = Transaction.new_unsigned(message)
    tx.partial_sign([claim_authority], recent_blockhash)
    return tx


def sign_as(tx: Transaction, signer: Keypair) -> Transaction:
    """Add `signer`'s signature, keeping the others (what the member's wallet does).

    Args:
        tx: A transaction that lists `signer` as a required signer.
        signer: The keypair.

    Returns:
        A signed copy; `tx` is left unchanged.
    """
    signed = Transaction.from_bytes(bytes(tx))
    signed.partial_sign([signer], signed.message.recent_blockhash)
    return signed


def missing_signers(tx: Transaction) -> list[Pubkey]:
    """The required signers whose signature slot is still default."""
    required = tx.message.header.num_required_signatures
    keys = tx.message.account_keys[:required]
    return [k for k, s in zip(keys, tx.signatures, strict=True) if s == Signature.default()]


def to_wire(tx: Transaction) -> str:
    """Serialize a transaction to base64 for a wallet (`Transaction.from(...)` in web3.js)."""
    return base64.b64encode(bytes(tx)).decode()


def from_wire(data: str) -> Transaction:
    """Parse a base64 legacy transaction.

    Args:
        data: Base64 of the wire bytes.

    Returns:
        The transaction.

    Raises:
        ValueError: The text is not base64 or not a transaction.
    """
    try:
        raw = base64.b64decode(data, validate=True)
    except binascii.Error as exc:
        raise ValueError("transaction is not base64") from exc
    return Transaction.from_bytes(raw)
