"""The Solana chain adapters: the same checks through LiteSvmChain and through
SolanaChain(AsyncClient) → LiteSvmRpc, over one in-process LiteSVM."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from solana.rpc.async_api import AsyncClient
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.token.state import Mint as SoldersMint
from solders.token.state import TokenAccount as SoldersTokenAccount
from solders.transaction import Transaction
from solders.transaction_status import TransactionErrorFieldless

from wallet.chains.litesvm import LiteSvmChain
from wallet.chains.litesvm_rpc import LiteSvmRpc
from wallet.chains.solana import SolanaChain, SolanaChainIO, prepare_claim
from wallet.solana_claims import (
    BlockhashExpired,
    ClaimNotConfirmed,
    ClaimTxFailed,
    build_grant_allowance_tx,
    claim_memo,
    sign_as,
)
from wallet.spl import (
    TOKEN_ACCOUNT_LEN,
    get_associated_token_address,
    parse_mint,
    parse_token_account,
)

DECIMALS = 6


@dataclass
class Env:
    """One LiteSVM, set up through `local`, observed through `chain` (either adapter)."""

    local: LiteSvmChain
    chain: SolanaChainIO
    manager: Keypair
    mint: Pubkey
    treasury: Pubkey


@pytest.fixture(params=["litesvm", "rpc"])
async def env(request: pytest.FixtureRequest) -> AsyncIterator[Env]:
    local = LiteSvmChain()
    manager = Keypair()
    local.airdrop(manager.pubkey(), 10**9)
    mint = local.create_mint(manager, DECIMALS)
    treasury = local.create_ata(manager.pubkey(), mint, manager)
    local.mint_to(mint, treasury, manager, 10**12)
    if request.param == "litesvm":
        yield Env(local, local, manager, mint, treasury)
        return
    async with LiteSvmRpc(local.svm) as rpc, AsyncClient(rpc.url) as client:
        yield Env(local, SolanaChain(client, poll_interval=0.01), manager, mint, treasury)


def _transfer(payer: Keypair, to: Pubkey, lamports: int, local: LiteSvmChain) -> Transaction:
    ix = transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=to, lamports=lamports))
    blockhash = local.svm.latest_blockhash()
    return Transaction(
        [payer], Message.new_with_blockhash([ix], payer.pubkey(), blockhash), blockhash
    )


async def test_sol_balance(env: Env) -> None:
    someone = Pubkey.new_unique()
    assert await env.chain.sol_balance(someone) == 0
    env.local.airdrop(someone, 2_000_000)
    assert await env.chain.sol_balance(someone) == 2_000_000


async def test_token_balance_via_the_ata(env: Env) -> None:
    owner = Pubkey.new_unique()
    assert await env.chain.token_balance(owner, env.mint) == 0
    ata = env.local.create_ata(owner, env.mint, env.manager)
    assert await env.chain.token_balance(owner, env.mint) == 0
    env.local.mint_to(env.mint, ata, env.manager, 42)
    assert await env.chain.token_balance(owner, env.mint) == 42
    assert await env.chain.token_balance(env.manager.pubkey(), env.mint) == 10**12


async def test_token_account_of_a_non_token_account_is_none(env: Env) -> None:
    assert await env.chain.token_account(env.manager.pubkey()) is None
    assert await env.chain.token_account(Pubkey.new_unique()) is None
    account = await env.chain.token_account(env.treasury)
    assert account is not None
    assert (account.mint, account.owner) == (env.mint, env.manager.pubkey())


async def test_delegated_amount(env: Env) -> None:
    assert await env.chain.delegated_amount(env.treasury) == (None, 0)
    assert await env.chain.delegated_amount(Pubkey.new_unique()) == (None, 0)
    delegate = Pubkey.new_unique()
    recent = await env.chain.latest_blockhash()
    grant = build_grant_allowance_tx(
        treasury_owner=env.manager.pubkey(),
        treasury_token_account=env.treasury,
        mint=env.mint,
        decimals=DECIMALS,
        claim_authority=delegate,
        amount=777,
        recent_blockhash=recent.blockhash,
    )
    signature = await env.chain.send_raw(bytes(sign_as(grant, env.manager)))
    await env.chain.confirm(signature)
    assert await env.chain.delegated_amount(env.treasury) == (delegate, 777)


async def test_blockhash_validity(env: Env) -> None:
    recent = await env.chain.latest_blockhash()
    assert recent.blockhash == env.local.svm.latest_blockhash()
    assert recent.last_valid_block_height > env.local.slot()
    assert await env.chain.is_blockhash_valid(recent.blockhash)
    env.local.svm.expire_blockhash()
    assert not await env.chain.is_blockhash_valid(recent.blockhash)
    assert (await env.chain.latest_blockhash()).blockhash != recent.blockhash


async def test_send_and_confirm(env: Env) -> None:
    to = Pubkey.new_unique()
    tx = _transfer(env.manager, to, 5_000_000, env.local)
    signature = await env.chain.send_raw(bytes(tx))
    assert signature == tx.signatures[0]
    assert await env.chain.confirm(signature, timeout=5) == env.local.slot()
    assert await env.chain.sol_balance(to) == 5_000_000


async def test_failed_send_raises_with_logs_and_does_not_land(env: Env) -> None:
    poor = Keypair()
    env.local.airdrop(poor.pubkey(), 1_000_000)
    tx = _transfer(poor, Pubkey.new_unique(), 10**12, env.local)
    with pytest.raises(ClaimTxFailed) as failed:
        await env.chain.send_raw(bytes(tx))
    assert any("insufficient lamports" in line for line in failed.value.logs)
    # Preflight refused it: no fee was charged and the chain does not know the signature.
    assert await env.chain.sol_balance(poor.pubkey()) == 1_000_000
    with pytest.raises(ClaimNotConfirmed):
        await env.chain.confirm(tx.signatures[0], timeout=0.05)


async def test_unsigned_send_fails_signature_verification(env: Env) -> None:
    ix = transfer(
        TransferParams(from_pubkey=env.manager.pubkey(), to_pubkey=Pubkey.new_unique(), lamports=1)
    )
    tx = Transaction.new_unsigned(
        Message.new_with_blockhash([ix], env.manager.pubkey(), env.local.svm.latest_blockhash())
    )
    with pytest.raises(ClaimTxFailed) as failed:
        await env.chain.send_raw(bytes(tx))
    assert failed.value.err == TransactionErrorFieldless.SignatureFailure


async def test_expired_send(env: Env) -> None:
    tx = _transfer(env.manager, Pubkey.new_unique(), 1_000_000, env.local)
    env.local.svm.expire_blockhash()
    with pytest.raises(BlockhashExpired):
        await env.chain.send_raw(bytes(tx))


async def test_confirm_of_a_landed_failure_raises(env: Env) -> None:
    # Skip preflight so the failing transaction lands (and pays its fee), as on a real cluster.
    poor = Keypair()
    env.local.airdrop(poor.pubkey(), 1_000_000)
    tx = _transfer(poor, Pubkey.new_unique(), 10**12, env.local)
    with pytest.raises(ClaimTxFailed):
        env.local.send(tx, preflight=False)
    with pytest.raises(ClaimTxFailed):
        await env.chain.confirm(tx.signatures[0], timeout=1)
    assert await env.chain.sol_balance(poor.pubkey()) == 1_000_000 - 5_000


async def test_confirm_of_an_unknown_signature(env: Env) -> None:
    with pytest.raises(ClaimNotConfirmed):
        await env.chain.confirm(Signature.new_unique(), timeout=0.05)


async def test_claim_end_to_end(env: Env) -> None:
    authority, member = Keypair(), Keypair()
    env.local.airdrop(member.pubkey(), 10**8)
    recent = await env.chain.latest_blockhash()
    grant = build_grant_allowance_tx(
        treasury_owner=env.manager.pubkey(),
        treasury_token_account=env.treasury,
        mint=env.mint,
        decimals=DECIMALS,
        claim_authority=authority.pubkey(),
        amount=1_000,
        recent_blockhash=recent.blockhash,
    )
    await env.chain.confirm(await env.chain.send_raw(bytes(sign_as(grant, env.manager))))
    prepared = await prepare_claim(
        env.chain,
        member=member.pubkey(),
        mint=env.mint,
        decimals=DECIMALS,
        treasury_token_account=env.treasury,
        claim_authority=authority,
        amount=600,
        memo=claim_memo(-5, 2, 9),
    )
    assert prepared.last_valid_block_height == recent.last_valid_block_height
    with pytest.raises(ClaimTxFailed):  # not yet signed by the member
        await env.chain.send_raw(bytes(prepared.tx))
    signature = await env.chain.send_raw(bytes(sign_as(prepared.tx, member)))
    await env.chain.confirm(signature)
    assert any("townsquare:claim:-5:2:9" in line for line in env.local.logs(signature))
    assert await env.chain.token_balance(member.pubkey(), env.mint) == 600
    assert await env.chain.delegated_amount(env.treasury) == (authority.pubkey(), 400)
    assert await env.chain.token_balance(env.manager.pubkey(), env.mint) == 10**12 - 600


def _coption(value: bytes | None, size: int) -> bytes:
    return b"\x00" * (4 + size) if value is None else struct.pack("<I", 1) + value


optional_key = st.none() | st.binary(min_size=32, max_size=32)


@given(
    mint=st.binary(min_size=32, max_size=32),
    owner=st.binary(min_size=32, max_size=32),
    amount=st.integers(0, 2**64 - 1),
    delegate=optional_key,
    state=st.sampled_from([1, 2]),
    native=st.none() | st.integers(0, 2**64 - 1),
    delegated=st.integers(0, 2**64 - 1),
    close=optional_key,
)
@settings(max_examples=100)
def test_parse_token_account_matches_solders(
    *,
    mint: bytes,
    owner: bytes,
    amount: int,
    delegate: bytes | None,
    state: int,
    native: int | None,
    delegated: int,
    close: bytes | None,
) -> None:
    native_bytes = None if native is None else struct.pack("<Q", native)
    data = (
        mint
        + owner
        + struct.pack("<Q", amount)
        + _coption(delegate, 32)
        + bytes([state])
        + _coption(native_bytes, 8)
        + struct.pack("<Q", delegated)
        + _coption(close, 32)
    )
    assert len(data) == TOKEN_ACCOUNT_LEN
    mine = parse_token_account(data)
    theirs = SoldersTokenAccount.from_bytes(data)
    assert (mine.mint, mine.owner, mine.amount) == (theirs.mint, theirs.owner, theirs.amount)
    assert (mine.delegate, mine.delegated_amount) == (theirs.delegate, theirs.delegated_amount)
    assert (mine.is_native, mine.close_authority) == (theirs.is_native, theirs.close_authority)
    assert mine.state == int(theirs.state)


@given(
    authority=optional_key,
    supply=st.integers(0, 2**64 - 1),
    decimals=st.integers(0, 255),
    freeze=optional_key,
)
@settings(max_examples=50)
def test_parse_mint_matches_solders(
    authority: bytes | None, supply: int, decimals: int, freeze: bytes | None
) -> None:
    data = (
        _coption(authority, 32)
        + struct.pack("<Q", supply)
        + bytes([decimals, 1])
        + _coption(freeze, 32)
    )
    mine = parse_mint(data)
    theirs = SoldersMint.from_bytes(data)
    assert (mine.mint_authority, mine.supply, mine.decimals) == (
        theirs.mint_authority,
        theirs.supply,
        theirs.decimals,
    )
    assert (mine.is_initialized, mine.freeze_authority) == (True, theirs.freeze_authority)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\x00" * 164, "164 bytes"),
        (b"\x00" * 72 + b"\x02\x00\x00\x00" + b"\x00" * 89, "COption tag 2"),
    ],
)
def test_parse_token_account_refuses_bad_data(data: bytes, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_token_account(data)


def test_parse_reads_a_real_account() -> None:
    local = LiteSvmChain()
    manager = Keypair()
    local.airdrop(manager.pubkey(), 10**9)
    mint = local.create_mint(manager, 9)
    ata = local.create_ata(manager.pubkey(), mint, manager)
    local.mint_to(mint, ata, manager, 5)
    assert ata == get_associated_token_address(manager.pubkey(), mint)
    raw_mint = local.svm.get_account(mint)
    assert raw_mint is not None
    parsed = parse_mint(bytes(raw_mint.data))
    assert (parsed.decimals, parsed.supply, parsed.mint_authority) == (9, 5, manager.pubkey())
