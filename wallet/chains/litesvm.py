"""The Solana chain adapter over an in-process `solders.litesvm.LiteSVM`.

`LiteSVM()` loads the real SPL Token, Associated Token Account and Memo (v1 and v2) programs, so
claims run the same program code as on mainnet. Sends run a preflight simulation first, like an
RPC node: a failing transaction never lands and charges no fee.
"""

from __future__ import annotations

from dataclasses import dataclass

from solders.hash import Hash
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import Message
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import CreateAccountParams, create_account
from solders.transaction import Transaction, VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata

from wallet.chains.solana import Delegation, RecentBlockhash, delegation_of
from wallet.solana_claims import ClaimNotConfirmed, ClaimTxFailed, failure_error
from wallet.spl import (
    MINT_LEN,
    TOKEN_PROGRAM_ID,
    TokenAccount,
    create_ata_idempotent_ix,
    get_associated_token_address,
    initialize_mint2_ix,
    mint_to_ix,
    parse_token_account,
)

# LiteSVM has no blocks: a blockhash stays valid until `expire_blockhash()`. Mirror mainnet's
# 150-block validity window when reporting the last valid height.
BLOCKHASH_VALIDITY = 150


@dataclass(frozen=True)
class SentTx:
    """A transaction that landed: its signature, program logs and fee."""

    signature: Signature
    logs: tuple[str, ...]
    fee: int


class LiteSvmChain:
    """`SolanaChainIO` over an in-process LiteSVM, plus sync helpers for the sandbox and tests."""

    def __init__(self, svm: LiteSVM | None = None) -> None:
        """Wrap `svm`, or a fresh `LiteSVM()` with the default programs."""
        self.svm = svm if svm is not None else LiteSVM()

    def slot(self) -> int:
        """The current slot of the in-process clock."""
        return self.svm.get_clock().slot

    def get_token_account(self, address: Pubkey) -> TokenAccount | None:
        """The SPL token account at `address`, or None if missing or not a Token account."""
        account = self.svm.get_account(address)
        if account is None or account.owner != TOKEN_PROGRAM_ID:
            return None
        return parse_token_account(bytes(account.data))

    def send(self, tx: Transaction | VersionedTransaction, *, preflight: bool = True) -> SentTx:
        """Process a signed transaction.

        Args:
            tx: The transaction.
            preflight: Simulate first and refuse a failing transaction without landing it.

        Returns:
            The landed transaction with its logs.

        Raises:
            BlockhashExpired: Its blockhash was expired.
            ClaimTxFailed: It failed (`logs` holds the program logs).
        """
        if preflight:
            simulated = self.svm.simulate_transaction(tx)
            if isinstance(simulated, FailedTransactionMetadata):
                raise failure_error(simulated.err(), simulated.meta().logs())
        result = self.svm.send_transaction(tx)
        if isinstance(result, FailedTransactionMetadata):
            raise failure_error(result.err(), result.meta().logs())
        return SentTx(result.signature(), tuple(result.logs()), result.fee())

    def logs(self, signature: Signature) -> tuple[str, ...]:
        """Program logs of a processed transaction (landed or failed)."""
        result = self.svm.get_transaction(signature)
        if result is None:
            raise ClaimNotConfirmed(f"{signature} is unknown")
        meta = result.meta() if isinstance(result, FailedTransactionMetadata) else result
        return tuple(meta.logs())

    def airdrop(self, pubkey: Pubkey, lamports: int) -> Signature:
        """Credit `lamports` to `pubkey` from LiteSVM's faucet."""
        result = self.svm.airdrop(pubkey, lamports)
        if isinstance(result, FailedTransactionMetadata):
            raise ClaimTxFailed(f"airdrop failed: {result.err()}", err=result.err())
        return result.signature()

    def _send_signed(self, payer: Keypair, ixs: list, extra: tuple[Keypair, ...] = ()) -> SentTx:
        blockhash = self.svm.latest_blockhash()
        message = Message.new_with_blockhash(ixs, payer.pubkey(), blockhash)
        return self.send(Transaction([payer, *extra], message, blockhash))

    def create_mint(
        self, authority: Keypair, decimals: int, *, freeze_authority: Pubkey | None = None
    ) -> Pubkey:
        """Create and initialize a mint; `authority` pays and becomes the mint authority.

        Args:
            authority: Mint authority and fee payer (must hold lamports).
            decimals: The mint's decimals.
            freeze_authority: Optional freeze authority.

        Returns:
            The new mint's address.
        """
        mint = Keypair()
        params = CreateAccountParams(
            from_pubkey=authority.pubkey(),
            to_pubkey=mint.pubkey(),
            lamports=self.svm.minimum_balance_for_rent_exemption(MINT_LEN),
            space=MINT_LEN,
            owner=TOKEN_PROGRAM_ID,
        )
        ixs = [
            create_account(params),
            initialize_mint2_ix(mint.pubkey(), decimals, authority.pubkey(), freeze_authority),
        ]
        self._send_signed(authority, ixs, (mint,))
        return mint.pubkey()

    def create_ata(self, owner: Pubkey, mint: Pubkey, payer: Keypair) -> Pubkey:
        """Create (idempotently) `owner`'s associated token account; returns its address."""
        self._send_signed(payer, [create_ata_idempotent_ix(payer.pubkey(), owner, mint)])
        return get_associated_token_address(owner, mint)

    def mint_to(self, mint: Pubkey, dest: Pubkey, authority: Keypair, amount: int) -> SentTx:
        """Mint `amount` base units into token account `dest`; `authority` signs and pays."""
        return self._send_signed(authority, [mint_to_ix(mint, dest, authority.pubkey(), amount)])

    async def sol_balance(self, pubkey: Pubkey) -> int:
        """Lamports held by `pubkey` (0 for a missing account)."""
        return self.svm.get_balance(pubkey) or 0

    async def token_account(self, address: Pubkey) -> TokenAccount | None:
        """The SPL token account at `address`, or None."""
        return self.get_token_account(address)

    async def token_balance(self, owner: Pubkey, mint: Pubkey) -> int:
        """Base units of `mint` in `owner`'s associated token account (0 if it is missing)."""
        account = self.get_token_account(get_associated_token_address(owner, mint))
        return 0 if account is None else account.amount

    async def delegated_amount(self, token_account: Pubkey) -> Delegation:
        """The delegate of `token_account` and the allowance it has left."""
        return delegation_of(self.get_token_account(token_account))

    async def latest_blockhash(self) -> RecentBlockhash:
        """The blockhash LiteSVM currently accepts."""
        return RecentBlockhash(self.svm.latest_blockhash(), self.slot() + BLOCKHASH_VALIDITY)

    async def is_blockhash_valid(self, blockhash: Hash) -> bool:
        """LiteSVM accepts only its latest blockhash."""
        return blockhash == self.svm.latest_blockhash()

    async def send_raw(self, raw: bytes) -> Signature:
        """Send a serialized transaction with preflight; see `send`."""
        return self.send(VersionedTransaction.from_bytes(raw)).signature

    async def confirm(self, signature: Signature, *, timeout: float = 30.0) -> int:
        """LiteSVM processes synchronously: a known signature is final at once.

        Args:
            signature: The transaction signature.
            timeout: Unused; the same signature as `SolanaChain.confirm`.

        Returns:
            The current slot.

        Raises:
            ClaimTxFailed: The transaction landed and failed.
            ClaimNotConfirmed: LiteSVM never processed it.
        """
        result = self.svm.get_transaction(signature)
        if result is None:
            raise ClaimNotConfirmed(f"{signature} is unknown")
        if isinstance(result, FailedTransactionMetadata):
            raise failure_error(result.err(), result.meta().logs())
        return self.slot()
