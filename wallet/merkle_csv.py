"""Allocation CSV files in, claim trees out.

`ALLOCATIONS.csv` rows are `index,address,amount` or `address,amount` (indexes then follow the row
order), with an optional header line (a first line without digits). EVM addresses are `0x` and 40
hex digits; mixed-case ones must pass their EIP-55 checksum. Solana owners are base58 public keys.
Amounts are non-negative decimal integers in base units; zero is allowed.

Columns are validated in bulk (one join, one `bytes.fromhex`, one checksum batch), and only on a
failure is the offending row searched for, so large files stay fast.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import Literal, overload

from wallet.merkle import EVM_CLAIM_ENCODING, SOLANA_CLAIM_ENCODING, StandardMerkleTree
from wallet.merkle_abi import claim_leaf_hashes
from wallet.merkle_hash import Progress, checksum_addresses

Chain = Literal["evm", "solana"]
_UINT_DIGITS = 78  # 2**256 has 78 decimal digits


class CsvError(ValueError):
    """A bad allocation row; `line` is its 1-based line number (0 when the file is empty)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line


class ClaimValues(Sequence[tuple[int, str, int]]):
    """Leaf values `(index, account, amount)` over three columns: no tuple per row until read."""

    def __init__(self, indexes: list[int], accounts: list[str], amounts: list[int]) -> None:
        self.columns = (indexes, accounts, amounts)

    def __len__(self) -> int:
        return len(self.columns[0])

    @overload
    def __getitem__(self, index: int) -> tuple[int, str, int]: ...

    @overload
    def __getitem__(self, index: slice) -> list[tuple[int, str, int]]: ...

    def __getitem__(self, index: int | slice) -> tuple[int, str, int] | list[tuple[int, str, int]]:
        indexes, accounts, amounts = self.columns
        if isinstance(index, slice):
            return list(zip(indexes[index], accounts[index], amounts[index], strict=True))
        return indexes[index], accounts[index], amounts[index]


@dataclass(frozen=True)
class Allocations:
    """Validated claim rows, as columns.

    Attributes:
        chain: `evm` or `solana`.
        indexes: Claim indexes.
        accounts: Accounts as written: `0x` addresses (EVM) or base58 owners (Solana).
        account_bytes: The 20-byte addresses or 32-byte owners.
        amounts: Amounts in base units.
        checksummed: The EIP-55 form of every address, when validation computed it.
    """

    chain: Chain
    indexes: list[int]
    accounts: list[str]
    account_bytes: list[bytes]
    amounts: list[int]
    checksummed: list[str] | None = None

    @property
    def leaf_encoding(self) -> tuple[str, ...]:
        """The tree's leaf encoding: `(uint256,address,uint256)` or `(uint256,bytes32,uint256)`."""
        return EVM_CLAIM_ENCODING if self.chain == "evm" else SOLANA_CLAIM_ENCODING

    def values(self) -> ClaimValues:
        """The leaf values `(index, account, amount)`; Solana owners as `0x` hex bytes32."""
        if self.chain == "evm":
            return ClaimValues(self.indexes, self.accounts, self.amounts)
        owners = ["0x" + owner.hex() for owner in self.account_bytes]
        return ClaimValues(self.indexes, owners, self.amounts)

    def claim_keys(self) -> list[str]:
        """Claims-file keys: EIP-55 checksummed addresses (EVM) or base58 owners (Solana)."""
        if self.chain == "solana":
            return list(self.accounts)
        if self.checksummed is not None:
            return list(self.checksummed)
        return checksum_addresses(b"".join(self.account_bytes))


def _first_bad(
    lines: Sequence[int], column: Sequence[str], ok: Callable[[str], bool], message: str
) -> CsvError:
    for line, cell in zip(lines, column, strict=True):
        if not ok(cell):
            return CsvError(line, message.format(cell=cell))
    return CsvError(lines[0], message.format(cell="?"))


def _is_uint(cell: str) -> bool:
    return cell.isascii() and cell.isdigit() and len(cell) <= _UINT_DIGITS and int(cell) >> 256 == 0


def _uints(lines: Sequence[int], column: Sequence[str], what: str) -> list[int]:
    joined = "".join(column)
    if not (all(column) and joined.isascii() and joined.isdigit()):
        raise _first_bad(lines, column, _is_uint, what + " {cell!r} is not a non-negative integer")
    if max(map(len, column)) > _UINT_DIGITS or max(numbers := list(map(int, column))) >> 256:
        raise _first_bad(lines, column, _is_uint, what + " {cell!r} is not below 2**256")
    return numbers


def _duplicates(lines: Sequence[int], keys: Sequence[object], what: str) -> None:
    if len(set(keys)) == len(keys):
        return
    seen: dict[object, int] = {}
    for line, key in zip(lines, keys, strict=True):
        if key in seen:
            raise CsvError(line, f"duplicate {what} {key!s} (first on line {seen[key]})")
        seen[key] = line


def _is_address(cell: str) -> bool:
    try:
        return len(cell) == 42 and cell.startswith("0x") and len(bytes.fromhex(cell[2:])) == 20
    except ValueError:
        return False


def _is_checksum_case(cell: str, checksummed: str) -> bool:
    body = cell[2:]
    return cell == checksummed or body in (body.lower(), body.upper())


def _evm_accounts(
    lines: Sequence[int], column: Sequence[str]
) -> tuple[list[bytes], list[str] | None]:
    """20-byte addresses, and the EIP-55 forms when the column has upper-case letters."""
    count, joined = len(column), "".join(column)
    # 'x' is no hex digit, so once every cell has 42 characters and starts with "0x", removing
    # "0x" leaves exactly the 40-digit bodies, or a shorter string when a body is bad.
    body = joined.replace("0x", "")
    shaped = (
        set(map(len, column)) == {42} and joined[::42] + joined[1::42] == "0" * count + "x" * count
    )
    try:
        raw = bytes.fromhex(body) if shaped else b""
    except ValueError:
        raw = b""
    if len(raw) != 20 * count or len(body) != 40 * count:
        raise _first_bad(lines, column, _is_address, "invalid address {cell!r}")
    accounts = [raw[i : i + 20] for i in range(0, len(raw), 20)]
    if len(set(accounts)) < count:
        _duplicates(lines, ["0x" + a.hex() for a in accounts], "address")
    lower = body.lower()
    if lower == body:  # no upper-case letter: nothing to check
        return accounts, None
    checksummed = checksum_addresses(raw)
    if "".join(checksummed) == joined:
        return accounts, list(column)  # already checksummed: the same strings serve as keys
    for line, cell, good in zip(lines, column, checksummed, strict=True):
        if not _is_checksum_case(cell, good):
            raise CsvError(line, f"address {cell!r} fails its EIP-55 checksum")
    return accounts, checksummed


def _solana_accounts(lines: Sequence[int], column: Sequence[str]) -> list[bytes]:
    from solders.pubkey import Pubkey

    owners = []
    for line, cell in zip(lines, column, strict=True):
        try:
            key = Pubkey.from_string(cell)
        except ValueError:
            key = None
        if key is None or str(key) != cell:
            raise CsvError(line, f"invalid Solana owner {cell!r}: expected a base58 public key")
        owners.append(bytes(key))
    _duplicates(lines, column, "owner")
    return owners


def _rows(
    lines: Sequence[int],
    numbers: list[int],
    accounts: list[str],
    amounts: Callable[[], list[int]],
    chain: Chain,
) -> Allocations:
    _duplicates(lines, numbers, "index")
    checksummed = None
    if chain == "evm":
        raw, checksummed = _evm_accounts(lines, accounts)
    else:
        raw = _solana_accounts(lines, accounts)
    return Allocations(chain, numbers, accounts, raw, amounts(), checksummed)


def validate_rows(
    lines: Sequence[int],
    indexes: Sequence[str] | None,
    accounts: Sequence[str],
    amounts: Sequence[str],
    chain: Chain = "evm",
) -> Allocations:
    """Validates claim columns given as text; `lines` name the rows in errors.

    Args:
        lines: The line (or row) number of each row, for error messages.
        indexes: Index cells, or None to number the rows from 0.
        accounts: Address (EVM) or base58 owner (Solana) cells.
        amounts: Amount cells.
        chain: `evm` or `solana`.

    Returns:
        The validated rows.

    Raises:
        CsvError: A bad, duplicated or out-of-range cell, naming its row.
    """
    if not lines:
        raise CsvError(0, "no allocation rows")
    numbers = _uints(lines, indexes, "index") if indexes is not None else list(range(len(lines)))
    return _rows(lines, numbers, list(accounts), lambda: _uints(lines, amounts, "amount"), chain)


def parse_allocations(text: str, *, chain: Chain = "evm") -> Allocations:
    """Parses and validates the text of an allocation CSV file.

    Args:
        text: The file's text. Empty lines are skipped; cells may be padded with spaces.
        chain: `evm` (rows hold `0x` addresses) or `solana` (rows hold base58 owners).

    Returns:
        The validated rows.

    Raises:
        CsvError: A malformed row, naming its line number.
    """
    lines = text.splitlines()
    numbers: Sequence[int] = range(1, len(lines) + 1)
    if not all(map(str.strip, lines)):
        kept = [(n, line) for n, line in zip(numbers, lines, strict=True) if line.strip()]
        numbers, lines = [n for n, _ in kept], [line for _, line in kept]
    if lines and not any(c.isdigit() for c in lines[0]):
        numbers, lines = numbers[1:], lines[1:]  # a header: every data row holds digits
    if not lines:
        raise CsvError(0, "no allocation rows")
    width = lines[0].count(",") + 1
    commas = list(map(str.count, lines, repeat(",")))
    if width not in (2, 3) or set(commas) != {width - 1}:
        line, got = next(
            (n, c + 1)
            for n, c in zip(numbers, commas, strict=True)
            if c != width - 1 or width not in (2, 3)
        )
        raise CsvError(line, f"expected 3 columns (index,address,amount) or 2, got {got}")
    cells = ",".join(lines).split(",")
    if " " in text or "\t" in text:
        cells = list(map(str.strip, cells))
    columns = [cells[k::width] for k in range(width)]
    indexes = columns[0] if width == 3 else None
    return validate_rows(list(numbers), indexes, columns[-2], columns[-1], chain)


def read_allocations(path: str | Path, *, chain: Chain = "evm") -> Allocations:
    """Reads and validates an allocation CSV file (UTF-8); see `parse_allocations`."""
    return parse_allocations(Path(path).read_text(encoding="utf-8-sig"), chain=chain)


def _is_amount(value: object) -> bool:
    return type(value) is int and 0 <= value < 1 << 256


def allocations_from_amounts(
    amounts: Mapping[str, int] | Iterable[tuple[str, int]], *, chain: Chain = "evm"
) -> Allocations:
    """Claim rows from `account -> amount` (e.g. `allocate`'s result), indexed from 0 in order.

    Args:
        amounts: A mapping or `(account, amount)` pairs; accounts are `0x` addresses (EVM,
            checked like CSV cells) or base58 owners (Solana).
        chain: `evm` or `solana`.

    Returns:
        The validated rows.

    Raises:
        CsvError: A bad account or amount; `line` is the 1-based position of the pair.
    """
    pairs = list(amounts.items() if isinstance(amounts, Mapping) else amounts)
    if not pairs:
        raise CsvError(0, "no allocation rows")
    lines = range(1, len(pairs) + 1)
    accounts = [account for account, _ in pairs]
    values = [amount for _, amount in pairs]
    if set(map(type, values)) != {int} or min(values) < 0 or max(values) >> 256:
        line = next(n for n, v in zip(lines, values, strict=True) if not _is_amount(v))
        raise CsvError(line, f"amount {values[line - 1]!r} is not an integer in [0, 2**256)")
    return _rows(lines, list(range(len(pairs))), accounts, lambda: values, chain)


def build_tree(allocations: Allocations, progress: Progress | None = None) -> StandardMerkleTree:
    """The OpenZeppelin-standard tree of the claim rows (leaves sorted, as OpenZeppelin does).

    Args:
        allocations: Validated rows.
        progress: Called with the number of hashes done, per batch (2n-1 in all).

    Returns:
        The tree; its values are `Allocations.values()`.
    """
    leaves = claim_leaf_hashes(
        allocations.indexes, allocations.account_bytes, allocations.amounts, progress
    )
    return StandardMerkleTree.of_hashed(
        allocations.values(), allocations.leaf_encoding, leaves, progress=progress
    )
