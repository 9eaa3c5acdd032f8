"""SPL Token, Associated Token Account and Memo instructions, and token state parsing.

Hand-encoded over solders types: the layouts are a tag byte plus little-endian integers, and
owning them here keeps the claim path free of solana-py's `construct` layouts. The tests check
every builder byte for byte against solana-py's `spl.token.instructions`.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

TOKEN_PROGRAM_ID = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
ASSOCIATED_TOKEN_PROGRAM_ID = Pubkey.from_string("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL")
MEMO_PROGRAM_ID = Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr")
SYSTEM_PROGRAM_ID = Pubkey.from_string("11111111111111111111111111111111")

MINT_LEN = 82
TOKEN_ACCOUNT_LEN = 165
U64_MAX = 2**64 - 1

# Token program instruction tags (spl-token `TokenInstruction` discriminants).
_INITIALIZE_MINT2 = 20
_MINT_TO = 7
_REVOKE = 5
_TRANSFER_CHECKED = 12
_APPROVE_CHECKED = 13
# ATA program: 0 = Create, 1 = CreateIdempotent.
_ATA_CREATE_IDEMPOTENT = 1


def _meta(pubkey: Pubkey, *, signer: bool = False, writable: bool = False) -> AccountMeta:
    return AccountMeta(pubkey=pubkey, is_signer=signer, is_writable=writable)


def _u64(amount: int) -> bytes:
    if not 0 <= amount <= U64_MAX:
        raise ValueError(f"amount {amount} does not fit in a u64")
    return struct.pack("<Q", amount)


def _u8(value: int) -> bytes:
    if not 0 <= value <= 255:
        raise ValueError(f"decimals {value} does not fit in a u8")
    return bytes([value])


def get_associated_token_address(
    owner: Pubkey, mint: Pubkey, token_program: Pubkey = TOKEN_PROGRAM_ID
) -> Pubkey:
    """Derive the associated token account of `owner` for `mint`.

    Args:
        owner: The wallet that owns the token account.
        mint: The token mint.
        token_program: The token program that owns the account (classic SPL Token by default).

    Returns:
        The program-derived address `[owner, token_program, mint]` under the ATA program.
    """
    address, _bump = Pubkey.find_program_address(
        [bytes(owner), bytes(token_program), bytes(mint)], ASSOCIATED_TOKEN_PROGRAM_ID
    )
    return address


def create_ata_idempotent_ix(
    payer: Pubkey, owner: Pubkey, mint: Pubkey, token_program: Pubkey = TOKEN_PROGRAM_ID
) -> Instruction:
    """ATA program `CreateIdempotent`: create `owner`'s ATA unless it already exists.

    Args:
        payer: Funds the rent of the new account; must sign.
        owner: The wallet the ATA belongs to.
        mint: The token mint.
        token_program: The token program of the mint.

    Returns:
        The instruction.
    """
    accounts = [
        _meta(payer, signer=True, writable=True),
        _meta(get_associated_token_address(owner, mint, token_program), writable=True),
        _meta(owner),
        _meta(mint),
        _meta(SYSTEM_PROGRAM_ID),
        _meta(token_program),
    ]
    return Instruction(ASSOCIATED_TOKEN_PROGRAM_ID, bytes([_ATA_CREATE_IDEMPOTENT]), accounts)


def approve_checked_ix(
    source: Pubkey,
    mint: Pubkey,
    delegate: Pubkey,
    owner: Pubkey,
    *,
    amount: int,
    decimals: int,
) -> Instruction:
    """SPL Token `ApproveChecked`: let `delegate` move up to `amount` out of `source`.

    Args:
        source: The token account the allowance is drawn on.
        mint: Its mint (checked against `decimals`).
        delegate: The account allowed to transfer.
        owner: The owner of `source`; must sign.
        amount: The allowance in base units; replaces any previous allowance.
        decimals: The mint's decimals.

    Returns:
        The instruction.
    """
    accounts = [
        _meta(source, writable=True),
        _meta(mint),
        _meta(delegate),
        _meta(owner, signer=True),
    ]
    data = bytes([_APPROVE_CHECKED]) + _u64(amount) + _u8(decimals)
    return Instruction(TOKEN_PROGRAM_ID, data, accounts)


def revoke_ix(source: Pubkey, owner: Pubkey) -> Instruction:
    """SPL Token `Revoke`: clear the delegate of `source`.

    Args:
        source: The token account.
        owner: Its owner; must sign.

    Returns:
        The instruction.
    """
    accounts = [_meta(source, writable=True), _meta(owner, signer=True)]
    return Instruction(TOKEN_PROGRAM_ID, bytes([_REVOKE]), accounts)


def transfer_checked_ix(
    source: Pubkey,
    mint: Pubkey,
    dest: Pubkey,
    authority: Pubkey,
    *,
    amount: int,
    decimals: int,
) -> Instruction:
    """SPL Token `TransferChecked`.

    Args:
        source: The token account debited.
        mint: Its mint (checked against `decimals`).
        dest: The token account credited.
        authority: The owner or delegate of `source`; must sign.
        amount: Base units to move.
        decimals: The mint's decimals.

    Returns:
        The instruction.
    """
    accounts = [
        _meta(source, writable=True),
        _meta(mint),
        _meta(dest, writable=True),
        _meta(authority, signer=True),
    ]
    data = bytes([_TRANSFER_CHECKED]) + _u64(amount) + _u8(decimals)
    return Instruction(TOKEN_PROGRAM_ID, data, accounts)


def memo_ix(text: str, signers: Sequence[Pubkey] = ()) -> Instruction:
    """Memo program v2 instruction; the program fails unless every listed signer signed.

    Args:
        text: UTF-8 memo, logged by the program.
        signers: Accounts that must sign the transaction.

    Returns:
        The instruction.
    """
    accounts = [_meta(s, signer=True) for s in signers]
    return Instruction(MEMO_PROGRAM_ID, text.encode(), accounts)


def initialize_mint2_ix(
    mint: Pubkey, decimals: int, mint_authority: Pubkey, freeze_authority: Pubkey | None = None
) -> Instruction:
    """SPL Token `InitializeMint2` (needs no rent sysvar account).

    Args:
        mint: A fresh 82-byte account owned by the token program.
        decimals: Number of base-10 digits after the point.
        mint_authority: May mint new tokens.
        freeze_authority: May freeze token accounts, or None.

    Returns:
        The instruction.
    """
    freeze = b"\x00" if freeze_authority is None else b"\x01" + bytes(freeze_authority)
    data = bytes([_INITIALIZE_MINT2]) + _u8(decimals) + bytes(mint_authority) + freeze
    return Instruction(TOKEN_PROGRAM_ID, data, [_meta(mint, writable=True)])


def mint_to_ix(mint: Pubkey, dest: Pubkey, authority: Pubkey, amount: int) -> Instruction:
    """SPL Token `MintTo`.

    Args:
        mint: The mint.
        dest: The token account credited.
        authority: The mint authority; must sign.
        amount: Base units to mint.

    Returns:
        The instruction.
    """
    accounts = [
        _meta(mint, writable=True),
        _meta(dest, writable=True),
        _meta(authority, signer=True),
    ]
    return Instruction(TOKEN_PROGRAM_ID, bytes([_MINT_TO]) + _u64(amount), accounts)


@dataclass(frozen=True)
class TokenAccount:
    """The base 165-byte SPL token account state."""

    mint: Pubkey
    owner: Pubkey
    amount: int
    delegate: Pubkey | None
    state: int
    is_native: int | None
    delegated_amount: int
    close_authority: Pubkey | None


@dataclass(frozen=True)
class Mint:
    """The 82-byte SPL mint state."""

    mint_authority: Pubkey | None
    supply: int
    decimals: int
    is_initialized: bool
    freeze_authority: Pubkey | None


def _coption_tag(data: bytes, offset: int) -> bool:
    (tag,) = struct.unpack_from("<I", data, offset)
    if tag not in (0, 1):
        raise ValueError(f"invalid COption tag {tag} at offset {offset}")
    return tag == 1


def _coption_pubkey(data: bytes, offset: int) -> Pubkey | None:
    if not _coption_tag(data, offset):
        return None
    return Pubkey.from_bytes(data[offset + 4 : offset + 36])


def parse_token_account(data: bytes) -> TokenAccount:
    """Decode SPL token account data.

    Layout: mint 32, owner 32, amount u64, delegate COption<Pubkey> 36, state u8,
    is_native COption<u64> 12, delegated_amount u64, close_authority COption<Pubkey> 36.
    Token-2022 extensions after byte 165 are ignored.

    Args:
        data: The account data.

    Returns:
        The decoded account.

    Raises:
        ValueError: The data is too short or holds an invalid option tag.
    """
    if len(data) < TOKEN_ACCOUNT_LEN:
        raise ValueError(f"token account data is {len(data)} bytes, expected {TOKEN_ACCOUNT_LEN}")
    (amount,) = struct.unpack_from("<Q", data, 64)
    native = struct.unpack_from("<Q", data, 113)[0] if _coption_tag(data, 109) else None
    return TokenAccount(
        mint=Pubkey.from_bytes(data[0:32]),
        owner=Pubkey.from_bytes(data[32:64]),
        amount=amount,
        delegate=_coption_pubkey(data, 72),
        state=data[108],
        is_native=native,
        delegated_amount=struct.unpack_from("<Q", data, 121)[0],
        close_authority=_coption_pubkey(data, 129),
    )


def parse_mint(data: bytes) -> Mint:
    """Decode SPL mint data (mint_authority 36, supply u64, decimals u8, initialized u8, freeze 36).

    Args:
        data: The account data.

    Returns:
        The decoded mint.

    Raises:
        ValueError: The data is too short or holds an invalid option tag.
    """
    if len(data) < MINT_LEN:
        raise ValueError(f"mint data is {len(data)} bytes, expected {MINT_LEN}")
    return Mint(
        mint_authority=_coption_pubkey(data, 0),
        supply=struct.unpack_from("<Q", data, 36)[0],
        decimals=data[44],
        is_initialized=data[45] == 1,
        freeze_authority=_coption_pubkey(data, 46),
    )
