"""Solana claims: builders checked against solana-py, then the claim flow on LiteSVM's real SPL
Token, ATA and Memo programs."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import Transaction
from solders.transaction_status import (
    InstructionErrorCustom,
    TransactionErrorFieldless,
    TransactionErrorInstructionError,
)
from spl.memo import instructions as memo_ref
from spl.memo.models import MemoParams
from spl.token import instructions as ref
from spl.token import models as refm

from wallet.chains.litesvm import LiteSvmChain
from wallet.chains.solana import prepare_claim
from wallet.solana_claims import (
    ASSOCIATED_TOKEN_PROGRAM_ID,
    MEMO_PROGRAM_ID,
    TOKEN_PROGRAM_ID,
    AllowanceTooSmall,
    BlockhashExpired,
    ClaimError,
    ClaimTxFailed,
    approve_checked_ix,
    build_claim_tx,
    build_grant_allowance_tx,
    check_allowance,
    claim_memo,
    create_ata_idempotent_ix,
    failure_error,
    from_wire,
    get_associated_token_address,
    initialize_mint2_ix,
    memo_ix,
    mint_to_ix,
    missing_signers,
    revoke_ix,
    sign_as,
    to_wire,
    transfer_checked_ix,
)

DECIMALS = 6
SUPPLY = 1_000_000_000_000
POOL = 5_000_000
# spl-token error codes: 1 = InsufficientFunds, 4 = OwnerMismatch.
INSUFFICIENT_FUNDS = 1
OWNER_MISMATCH = 4

A, B, C, D = (Pubkey.new_unique() for _ in range(4))


def _same(mine: Instruction, theirs: Instruction) -> None:
    assert mine.program_id == theirs.program_id
    assert bytes(mine.data) == bytes(theirs.data)
    assert list(mine.accounts) == list(theirs.accounts)


BUILDER_VECTORS = [
    (
        "approve_checked",
        approve_checked_ix(A, B, C, D, amount=2**64 - 1, decimals=9),
        ref.approve_checked(
            refm.ApproveCheckedParams(
                program_id=TOKEN_PROGRAM_ID,
                source=A,
                mint=B,
                delegate=C,
                owner=D,
                amount=2**64 - 1,
                decimals=9,
            )
        ),
    ),
    (
        "transfer_checked",
        transfer_checked_ix(A, B, C, D, amount=1234, decimals=6),
        ref.transfer_checked(
            refm.TransferCheckedParams(
                program_id=TOKEN_PROGRAM_ID,
                source=A,
                mint=B,
                dest=C,
                owner=D,
                amount=1234,
                decimals=6,
            )
        ),
    ),
    (
        "mint_to",
        mint_to_ix(A, B, C, 7),
        ref.mint_to(
            refm.MintToParams(
                program_id=TOKEN_PROGRAM_ID, mint=A, dest=B, mint_authority=C, amount=7
            )
        ),
    ),
    (
        "revoke",
        revoke_ix(A, B),
        ref.revoke(refm.RevokeParams(program_id=TOKEN_PROGRAM_ID, account=A, owner=B)),
    ),
    (
        "initialize_mint2_with_freeze",
        initialize_mint2_ix(A, 6, B, C),
        ref.initialize_mint2(
            refm.InitializeMint2Params(
                program_id=TOKEN_PROGRAM_ID,
                mint=A,
                decimals=6,
                mint_authority=B,
                freeze_authority=C,
            )
        ),
    ),
    (
        "create_idempotent_ata",
        create_ata_idempotent_ix(A, B, C),
        ref.create_idempotent_associated_token_account(A, B, C),
    ),
]


@pytest.mark.parametrize(
    ("name", "mine", "theirs"), BUILDER_VECTORS, ids=[v[0] for v in BUILDER_VECTORS]
)
def test_builders_match_solana_py(name: str, mine: Instruction, theirs: Instruction) -> None:
    _same(mine, theirs)


def test_memo_matches_solana_py_except_signer_writability() -> None:
    # spl-memo's own `build_memo` marks signers read-only; solana-py marks them writable, which
    # would needlessly write-lock the member's account.
    mine = memo_ix("townsquare:claim:1:2:3", [A])
    theirs = memo_ref.create_memo(
        MemoParams(program_id=MEMO_PROGRAM_ID, signer=A, message=b"townsquare:claim:1:2:3")
    )
    assert (mine.program_id, bytes(mine.data)) == (theirs.program_id, bytes(theirs.data))
    assert [(m.pubkey, m.is_signer, m.is_writable) for m in mine.accounts] == [(A, True, False)]
    assert memo_ix("x").accounts == []


def test_initialize_mint2_without_freeze_uses_the_canonical_short_encoding() -> None:
    # spl-token packs a None option as one 0 byte; solana-py pads 32 zero bytes after it, which
    # the program ignores. The prefix must agree.
    mine = bytes(initialize_mint2_ix(A, 6, B).data)
    theirs = bytes(
        ref.initialize_mint2(
            refm.InitializeMint2Params(
                program_id=TOKEN_PROGRAM_ID, mint=A, decimals=6, mint_authority=B
            )
        ).data
    )
    assert mine == bytes([20, 6]) + bytes(B) + b"\x00"
    assert theirs.startswith(mine)


@given(owner=st.binary(min_size=32, max_size=32), mint=st.binary(min_size=32, max_size=32))
@settings(max_examples=50)
def test_ata_address_matches_solana_py(owner: bytes, mint: bytes) -> None:
    o, m = Pubkey.from_bytes(owner), Pubkey.from_bytes(mint)
    assert get_associated_token_address(o, m) == ref.get_associated_token_address(o, m)


def test_program_ids() -> None:
    assert str(TOKEN_PROGRAM_ID) == "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
    assert str(ASSOCIATED_TOKEN_PROGRAM_ID) == "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL"
    assert str(MEMO_PROGRAM_ID) == "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"


@pytest.mark.parametrize("amount", [-1, 2**64])
def test_amount_out_of_u64_is_refused(amount: int) -> None:
    with pytest.raises(ValueError, match="u64"):
        transfer_checked_ix(A, B, C, D, amount=amount, decimals=6)


def test_claim_memo_format() -> None:
    assert claim_memo(-1001234567890, 7, 42) == "townsquare:claim:-1001234567890:7:42"


CHECK_ALLOWANCE = [
    # (delegate is the authority, delegated, amount, refused)
    (True, 100, 100, False),
    (True, 100, 101, True),
    (True, 0, 1, True),
    (False, 10**9, 1, True),
    (None, 0, 1, True),
]


@pytest.mark.parametrize(("delegate", "delegated", "amount", "refused"), CHECK_ALLOWANCE)
def test_check_allowance(delegate: bool | None, delegated: int, amount: int, refused: bool) -> None:
    authority = Pubkey.new_unique()
    actual = None if delegate is None else (authority if delegate else Pubkey.new_unique())
    if not refused:
        check_allowance(
            delegate=actual, delegated_amount=delegated, claim_authority=authority, amount=amount
        )
        return
    with pytest.raises(AllowanceTooSmall) as info:
        check_allowance(
            delegate=actual, delegated_amount=delegated, claim_authority=authority, amount=amount
        )
    assert info.value.requested == amount
    assert info.value.available == (delegated if delegate else 0)


def test_failure_error_classifies() -> None:
    assert isinstance(failure_error(TransactionErrorFieldless.BlockhashNotFound), BlockhashExpired)
    err = TransactionErrorInstructionError(1, InstructionErrorCustom(1))
    failed = failure_error(err, ["log line"])
    assert isinstance(failed, ClaimTxFailed)
    assert failed.logs == ("log line",)
    assert failed.err == err


def test_wire_round_trip_keeps_partial_signature() -> None:
    authority, member = Keypair(), Keypair()
    tx = build_claim_tx(
        member=member.pubkey(),
        mint=A,
        decimals=6,
        treasury_token_account=B,
        claim_authority=authority,
        amount=5,
        memo="m",
        recent_blockhash=Hash.new_unique(),
    )
    back = from_wire(to_wire(tx))
    assert back == tx
    assert back.message.account_keys[0] == member.pubkey()  # the member pays the fee
    assert missing_signers(back) == [member.pubkey()]
    assert back.signatures[0] == Signature.default()
    assert sign_as(back, member).verify_with_results() == [True, True]


@pytest.mark.parametrize("text", ["not base64!", "aGVsbG8="])
def test_from_wire_refuses_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        from_wire(text)


def test_claim_of_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        build_claim_tx(
            member=A,
            mint=B,
            decimals=6,
            treasury_token_account=C,
            claim_authority=Keypair(),
            amount=0,
            memo="m",
            recent_blockhash=Hash.new_unique(),
        )


@dataclass
class Pool:
    """A treasury with an allowance granted to a claim authority, on a fresh LiteSVM."""

    chain: LiteSvmChain
    manager: Keypair
    authority: Keypair
    mint: Pubkey
    treasury: Pubkey

    def member(self, lamports: int = 10**8) -> Keypair:
        kp = Keypair()
        self.chain.airdrop(kp.pubkey(), lamports)
        return kp

    def claim(
        self, member: Keypair, amount: int, index: int = 0, authority: Keypair | None = None
    ) -> Transaction:
        return build_claim_tx(
            member=member.pubkey(),
            mint=self.mint,
            decimals=DECIMALS,
            treasury_token_account=self.treasury,
            claim_authority=authority or self.authority,
            amount=amount,
            memo=claim_memo(-100, 1, index),
            recent_blockhash=self.chain.svm.latest_blockhash(),
        )

    async def prepare(self, member: Keypair, amount: int) -> Transaction:
        prepared = await prepare_claim(
            self.chain,
            member=member.pubkey(),
            mint=self.mint,
            decimals=DECIMALS,
            treasury_token_account=self.treasury,
            claim_authority=self.authority,
            amount=amount,
            memo=claim_memo(-100, 1, 0),
        )
        return prepared.tx

    def balance(self, token_account: Pubkey) -> int:
        account = self.chain.get_token_account(token_account)
        return 0 if account is None else account.amount


def make_pool(pool: int = POOL) -> Pool:
    chain = LiteSvmChain()
    manager, authority = Keypair(), Keypair()
    chain.airdrop(manager.pubkey(), 10**9)
    mint = chain.create_mint(manager, DECIMALS)
    treasury = chain.create_ata(manager.pubkey(), mint, manager)
    chain.mint_to(mint, treasury, manager, SUPPLY)
    grant = build_grant_allowance_tx(
        treasury_owner=manager.pubkey(),
        treasury_token_account=treasury,
        mint=mint,
        decimals=DECIMALS,
        claim_authority=authority.pubkey(),
        amount=pool,
        recent_blockhash=chain.svm.latest_blockhash(),
        memo="townsquare:allowance:-100:1",
    )
    assert missing_signers(grant) == [manager.pubkey()]
    chain.send(sign_as(from_wire(to_wire(grant)), manager))
    return Pool(chain, manager, authority, mint, treasury)


@pytest.fixture
def pool() -> Pool:
    return make_pool()


async def test_grant_allowance_delegates_exactly_the_pool_and_keeps_custody(pool: Pool) -> None:
    delegation = await pool.chain.delegated_amount(pool.treasury)
    assert delegation == (pool.authority.pubkey(), POOL)
    account = pool.chain.get_token_account(pool.treasury)
    assert account is not None
    assert account.owner == pool.manager.pubkey()
    assert account.amount == SUPPLY


async def test_member_claims_into_a_new_ata(pool: Pool) -> None:
    member = pool.member()
    lamports_before = await pool.chain.sol_balance(member.pubkey())
    ata = get_associated_token_address(member.pubkey(), pool.mint)
    assert pool.chain.get_token_account(ata) is None

    partial = from_wire(to_wire(await pool.prepare(member, 1_234_567)))
    sent = pool.chain.send(sign_as(partial, member))

    assert await pool.chain.token_balance(member.pubkey(), pool.mint) == 1_234_567
    assert pool.balance(pool.treasury) == SUPPLY - 1_234_567
    assert await pool.chain.delegated_amount(pool.treasury) == (
        pool.authority.pubkey(),
        POOL - 1_234_567,
    )
    assert any("townsquare:claim:-100:1:0" in line for line in sent.logs)
    assert any(str(MEMO_PROGRAM_ID) in line for line in sent.logs)
    # The member paid the two signatures and the ATA's rent; the claim authority holds no SOL.
    rent = pool.chain.svm.minimum_balance_for_rent_exemption(165)
    assert await pool.chain.sol_balance(member.pubkey()) == lamports_before - sent.fee - rent
    assert sent.fee == 10_000
    assert await pool.chain.sol_balance(pool.authority.pubkey()) == 0
    assert pool.chain.logs(sent.signature) == sent.logs


async def test_second_claim_reuses_the_existing_ata(pool: Pool) -> None:
    member = pool.member()
    pool.chain.send(sign_as(pool.claim(member, 100, index=0), member))
    pool.chain.send(sign_as(pool.claim(member, 250, index=1), member))
    assert await pool.chain.token_balance(member.pubkey(), pool.mint) == 350
    assert pool.balance(pool.treasury) == SUPPLY - 350


async def test_claim_when_someone_else_created_the_ata(pool: Pool) -> None:
    member = pool.member()
    pool.chain.create_ata(member.pubkey(), pool.mint, pool.manager)
    pool.chain.send(sign_as(pool.claim(member, 77), member))
    assert await pool.chain.token_balance(member.pubkey(), pool.mint) == 77


async def test_claim_beyond_the_allowance_is_refused_before_and_on_chain(pool: Pool) -> None:
    first = pool.member()
    pool.chain.send(sign_as(pool.claim(first, POOL - 10), first))
    member = pool.member()

    with pytest.raises(AllowanceTooSmall) as info:
        await pool.prepare(member, 11)
    assert (info.value.requested, info.value.available) == (11, 10)

    # Built anyway, the token program refuses it and nothing moves.
    with pytest.raises(ClaimTxFailed) as failed:
        pool.chain.send(sign_as(pool.claim(member, 11), member))
    assert failed.value.err == TransactionErrorInstructionError(
        1, InstructionErrorCustom(INSUFFICIENT_FUNDS)
    )
    assert any("insufficient funds" in line.lower() for line in failed.value.logs)
    assert pool.balance(pool.treasury) == SUPPLY - (POOL - 10)
    assert await pool.chain.token_balance(member.pubkey(), pool.mint) == 0

    pool.chain.send(sign_as(pool.claim(member, 10), member))
    assert await pool.chain.delegated_amount(pool.treasury) == (None, 0)


async def test_expired_blockhash(pool: Pool) -> None:
    member = pool.member()
    tx = await pool.prepare(member, 500)
    assert await pool.chain.is_blockhash_valid(tx.message.recent_blockhash)
    pool.chain.svm.expire_blockhash()
    assert not await pool.chain.is_blockhash_valid(tx.message.recent_blockhash)
    with pytest.raises(BlockhashExpired):
        pool.chain.send(sign_as(tx, member))
    assert await pool.chain.token_balance(member.pubkey(), pool.mint) == 0
    # A claim rebuilt on the new blockhash goes through.
    pool.chain.send(sign_as(await pool.prepare(member, 500), member))
    assert await pool.chain.token_balance(member.pubkey(), pool.mint) == 500


async def test_wrong_delegate_is_refused(pool: Pool) -> None:
    member, impostor = pool.member(), Keypair()
    with pytest.raises(AllowanceTooSmall) as info:
        await prepare_claim(
            pool.chain,
            member=member.pubkey(),
            mint=pool.mint,
            decimals=DECIMALS,
            treasury_token_account=pool.treasury,
            claim_authority=impostor,
            amount=1,
            memo="m",
        )
    assert info.value.available == 0
    with pytest.raises(ClaimTxFailed) as failed:
        pool.chain.send(sign_as(pool.claim(member, 1, authority=impostor), member))
    assert failed.value.err == TransactionErrorInstructionError(
        1, InstructionErrorCustom(OWNER_MISMATCH)
    )
    assert any("owner does not match" in line for line in failed.value.logs)
    assert pool.balance(pool.treasury) == SUPPLY


@pytest.mark.parametrize("preflight", [True, False])
async def test_missing_member_signature_is_refused(pool: Pool, preflight: bool) -> None:
    member = pool.member()
    before = await pool.chain.sol_balance(member.pubkey())
    with pytest.raises(ClaimTxFailed) as failed:
        pool.chain.send(pool.claim(member, 10), preflight=preflight)
    assert failed.value.err == TransactionErrorFieldless.SignatureFailure
    assert pool.balance(pool.treasury) == SUPPLY
    assert await pool.chain.sol_balance(member.pubkey()) == before


async def test_member_cannot_raise_the_amount(pool: Pool) -> None:
    member = pool.member()
    tx = pool.claim(member, 10)
    # Re-encode the transfer with a larger amount but keep the claim authority's signature.
    ixs = [
        create_ata_idempotent_ix(member.pubkey(), member.pubkey(), pool.mint),
        transfer_checked_ix(
            pool.treasury,
            pool.mint,
            get_associated_token_address(member.pubkey(), pool.mint),
            pool.authority.pubkey(),
            amount=POOL,
            decimals=DECIMALS,
        ),
        memo_ix(claim_memo(-100, 1, 0)),
    ]
    message = Message.new_with_blockhash(ixs, member.pubkey(), tx.message.recent_blockhash)
    forged = Transaction.populate(message, list(tx.signatures))
    with pytest.raises(ClaimTxFailed) as failed:
        pool.chain.send(sign_as(forged, member))
    assert failed.value.err == TransactionErrorFieldless.SignatureFailure
    assert pool.balance(pool.treasury) == SUPPLY


async def test_the_same_claim_lands_once(pool: Pool) -> None:
    member = pool.member()
    signed = sign_as(pool.claim(member, 10), member)
    pool.chain.send(signed)
    with pytest.raises(ClaimTxFailed) as failed:
        pool.chain.send(signed)
    assert failed.value.err == TransactionErrorFieldless.AlreadyProcessed
    assert await pool.chain.token_balance(member.pubkey(), pool.mint) == 10


async def test_revoked_allowance_stops_claims(pool: Pool) -> None:
    message = Message.new_with_blockhash(
        [revoke_ix(pool.treasury, pool.manager.pubkey())],
        pool.manager.pubkey(),
        pool.chain.svm.latest_blockhash(),
    )
    pool.chain.send(Transaction([pool.manager], message, message.recent_blockhash))
    assert await pool.chain.delegated_amount(pool.treasury) == (None, 0)
    member = pool.member()
    with pytest.raises(AllowanceTooSmall):
        await pool.prepare(member, 1)
    with pytest.raises(ClaimError):
        pool.chain.send(sign_as(pool.claim(member, 1), member))


@given(amounts=st.lists(st.integers(min_value=1, max_value=POOL), min_size=1, max_size=5))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_treasury_pays_exactly_what_is_claimed(amounts: list[int]) -> None:
    pool = make_pool()
    paid = 0
    for index, amount in enumerate(amounts):
        member = pool.member()
        tx = sign_as(pool.claim(member, amount, index=index), member)
        if paid + amount <= POOL:
            pool.chain.send(tx)
            paid += amount
        else:
            with pytest.raises(ClaimTxFailed):
                pool.chain.send(tx)
        account = pool.chain.get_token_account(pool.treasury)
        assert account is not None
        assert account.amount == SUPPLY - paid
        assert account.owner == pool.manager.pubkey()
        assert account.delegated_amount == POOL - paid
