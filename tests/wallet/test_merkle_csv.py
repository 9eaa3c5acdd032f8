"""Allocation CSV parsing and validation, claims files, and `townsquare merkle build`."""

from __future__ import annotations

import gc
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import base58
import pytest
from eth_utils import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from bot.cli import app as townsquare
from bot.cli_merkle import merkle_app
from bot.merkle_build import BuildArgs, build, parse_build
from wallet.merkle import EVM_CLAIM_ENCODING, SOLANA_CLAIM_ENCODING, StandardMerkleTree
from wallet.merkle_claims import hex_amount, write_claims, write_dump
from wallet.merkle_csv import (
    CsvError,
    allocations_from_amounts,
    build_tree,
    parse_allocations,
    read_allocations,
)

ROOT = Path(__file__).resolve().parents[2]
CHECKSUMMED = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
LOWER = CHECKSUMMED.lower()
A2 = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
A3 = "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB"
OWNER = base58.b58encode(bytes(range(32))).decode()


def test_three_columns_with_header() -> None:
    rows = parse_allocations(f"index,address,amount\n7,{CHECKSUMMED},100\n3,{A2.lower()},5\n")
    assert rows.indexes == [7, 3]
    assert rows.accounts == [CHECKSUMMED, A2.lower()]
    assert rows.amounts == [100, 5]
    assert rows.account_bytes == [bytes.fromhex(CHECKSUMMED[2:]), bytes.fromhex(A2[2:])]
    assert rows.claim_keys() == [CHECKSUMMED, A2]


def test_two_columns_number_rows_in_order() -> None:
    text = f"address,amount\r\n{A2},1\r\n\r\n  {A3} , 2 \r\n{LOWER.upper().replace('0X', '0x')},0\n"
    rows = parse_allocations(text)
    assert rows.indexes == [0, 1, 2]
    assert rows.amounts == [1, 2, 0]
    assert rows.claim_keys() == [A2, A3, CHECKSUMMED]


def test_read_allocations_strips_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(f"\ufeffindex,address,amount\n0,{A2},9\n".encode())
    assert read_allocations(path).amounts == [9]


BAD_ROWS = [
    (f"0,{A2},1\n0,{A3},2\n", 2, "duplicate index 0 (first on line 1)"),
    (f"0,{A2},1\n1,{A2.lower()},2\n", 2, "duplicate address"),
    (f"0,{A2},1\n1,{A3[:-1] + 'b'},2\n", 2, "fails its EIP-55 checksum"),
    (f"0,{A2},1\n1,0x1234,2\n", 2, "invalid address '0x1234'"),
    (f"0,{A2},1\n1,{A3[:-1]}g,2\n", 2, "invalid address"),
    (f"0,{A2},1\n1,00{A3[2:]},2\n", 2, "invalid address"),
    (f"0,{A2},1\n1,{A3[:2]}0x{A3[4:]},2\n", 2, "invalid address"),
    (f"0,{A2},1\n1,{A3},-5\n", 2, "amount '-5' is not a non-negative integer"),
    (f"0,{A2},1\n1,{A3},1.5\n", 2, "amount '1.5'"),
    (f"0,{A2},1e18\n", 1, "amount '1e18'"),
    (f"0,{A2},\n", 1, "amount ''"),
    (f"0,{A2},{2**256}\n", 1, "below 2**256"),
    (f"0,{A2},1_000\n", 1, "amount '1_000'"),
    (f"x,{A2},1\n", 1, "index 'x'"),
    (f"index,address,amount\n0,{A2},1\n1,{A3},2,3\n", 3, "got 4"),
    (f"{A2}\n", 1, "got 1"),
    (f"0,{A2},1\n{A3},2\n", 2, "got 2"),
    ("a,b,c,d,e\n1,2,3,4,5\n", 2, "got 5"),
]


@pytest.mark.parametrize(("text", "line", "message"), BAD_ROWS)
def test_bad_rows_name_their_line(text: str, line: int, message: str) -> None:
    with pytest.raises(CsvError) as caught:
        parse_allocations(text)
    assert caught.value.line == line
    assert str(caught.value).startswith(f"line {line}: ")
    assert message in str(caught.value)


@pytest.mark.parametrize("text", ["", "\n\n", "index,address,amount\n"])
def test_empty_files_are_errors(text: str) -> None:
    with pytest.raises(CsvError, match="no allocation rows"):
        parse_allocations(text)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("1111,5\n", 1, "invalid Solana owner"),
        (f"{OWNER}0,5\n", 1, "invalid Solana owner"),
        (f"{OWNER},5\n{OWNER},6\n", 2, "duplicate owner"),
        (f"0,{A2},5\n", 1, "invalid Solana owner"),
    ],
)
def test_bad_solana_rows(text: str, line: int, message: str) -> None:
    with pytest.raises(CsvError, match=message) as caught:
        parse_allocations(text, chain="solana")
    assert caught.value.line == line


def test_solana_rows() -> None:
    rows = parse_allocations(f"index,owner,amount\n4,{OWNER},12\n", chain="solana")
    assert rows.account_bytes == [bytes(range(32))]
    assert rows.leaf_encoding == SOLANA_CLAIM_ENCODING
    assert rows.values()[0] == (4, "0x" + bytes(range(32)).hex(), 12)
    assert rows.claim_keys() == [OWNER]


@pytest.mark.parametrize(
    ("pairs", "line", "message"),
    [
        ([(A2, 1), (A3, -1)], 2, "-1"),
        ([(A2, True)], 1, "True"),
        ([(A2, 1.0)], 1, "1.0"),
        ([(A2, 2**256)], 1, "2**256"),
        ([(A2, 1), ("0xnot", 1)], 2, "invalid address"),
        ([], 0, "no allocation rows"),
    ],
)
def test_allocations_from_amounts_rejects(
    pairs: list[tuple[str, object]], line: int, message: str
) -> None:
    with pytest.raises(CsvError) as caught:
        allocations_from_amounts(pairs)  # type: ignore[arg-type]
    assert caught.value.line == line
    assert message in str(caught.value)


def test_claims_file_is_uniswap_shaped_and_every_proof_verifies() -> None:
    amounts = {CHECKSUMMED: 10**18, A2.lower(): 255, A3: 0, to_checksum_address(bytes(20)): 4096}
    rows = allocations_from_amounts(amounts)
    tree = build_tree(rows)
    out = io.BytesIO()
    write_claims(tree, rows, out)
    doc = json.loads(out.getvalue())
    assert set(doc) == {"merkleRoot", "tokenTotal", "claims"}
    assert doc["merkleRoot"] == tree.root
    assert doc["tokenTotal"] == hex_amount(sum(amounts.values()))
    assert sorted(doc["claims"]) == sorted([CHECKSUMMED, A2, A3, to_checksum_address(bytes(20))])
    assert doc["claims"][A2] == {"index": 1, "amount": "0xff", "proof": tree.get_proof(1)}
    assert doc["claims"][A3]["amount"] == "0x00"
    for account, claim in doc["claims"].items():
        value = [claim["index"], account, int(claim["amount"], 16)]
        assert StandardMerkleTree.verify(
            doc["merkleRoot"], EVM_CLAIM_ENCODING, value, claim["proof"]
        )


@pytest.mark.parametrize(
    ("amount", "text"), [(0, "0x00"), (1, "0x01"), (255, "0xff"), (256, "0x0100")]
)
def test_hex_amount_has_even_length(amount: int, text: str) -> None:
    assert hex_amount(amount) == text


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.binary(min_size=20, max_size=20),
            st.integers(0, 2**256 - 1),
            st.sampled_from(["lower", "upper", "eip55"]),
        ),
        min_size=1,
        max_size=60,
        unique_by=lambda row: row[0],
    )
)
def test_csv_round_trip_builds_the_same_tree_as_of(rows: list[tuple[bytes, int, str]]) -> None:
    def spelled(raw: bytes, case: str) -> str:
        text = to_checksum_address(raw)
        return {"lower": text.lower(), "upper": "0x" + text[2:].upper(), "eip55": text}[case]

    text = "".join(f"{spelled(raw, case)},{amount}\n" for raw, amount, case in rows)
    parsed = parse_allocations(text)
    values = [[i, spelled(raw, case), amount] for i, (raw, amount, case) in enumerate(rows)]
    tree = build_tree(parsed)
    assert tree.root == StandardMerkleTree.of(values, EVM_CLAIM_ENCODING).root
    assert parsed.claim_keys() == [to_checksum_address(raw) for raw, _, _ in rows]
    out = io.BytesIO()
    write_dump(tree, out)
    assert StandardMerkleTree.load(json.loads(out.getvalue())).root == tree.root


@pytest.fixture
def allocations_csv(tmp_path: Path) -> Path:
    path = tmp_path / "ALLOCATIONS.csv"
    path.write_text(f"index,address,amount\n0,{CHECKSUMMED},100\n1,{A2},200\n2,{A3},300\n")
    return path


def test_cli_build_writes_dump_and_claims(allocations_csv: Path, tmp_path: Path) -> None:
    dump, claims = tmp_path / "dump.json", tmp_path / "claims.json"
    args = ["build", str(allocations_csv), "--out", str(dump), "--claims", str(claims)]
    result = CliRunner().invoke(merkle_app, args)
    assert result.exit_code == 0, result.output
    tree = StandardMerkleTree.load(json.loads(dump.read_text()))
    assert result.stdout.strip() == tree.root
    assert tree.leaf_encoding == EVM_CLAIM_ENCODING
    assert json.loads(claims.read_text())["merkleRoot"] == tree.root


def test_cli_build_shows_progress_when_asked(allocations_csv: Path, tmp_path: Path) -> None:
    args = ["build", str(allocations_csv), "--out", str(tmp_path / "d.json"), "--progress"]
    result = CliRunner().invoke(merkle_app, args)
    assert result.exit_code == 0, result.output
    assert "hashing" in result.stderr and "writing" in result.stderr


def test_cli_build_solana(tmp_path: Path) -> None:
    source = tmp_path / "sol.csv"
    source.write_text(f"{OWNER},5\n")
    result = CliRunner().invoke(
        merkle_app, ["build", str(source), "--out", str(tmp_path / "d.json"), "--chain", "solana"]
    )
    assert result.exit_code == 0, result.output
    dump = json.loads((tmp_path / "d.json").read_text())
    assert dump["leafEncoding"] == list(SOLANA_CLAIM_ENCODING)
    assert dump["values"][0]["value"] == ["0", "0x" + bytes(range(32)).hex(), "5"]


def test_cli_bad_csv_exits_2_with_the_line(tmp_path: Path) -> None:
    source = tmp_path / "bad.csv"
    source.write_text(f"0,{CHECKSUMMED},1\n1,{CHECKSUMMED.lower()},2\n")
    out = tmp_path / "d.json"
    result = CliRunner().invoke(merkle_app, ["build", str(source), "--out", str(out)])
    assert result.exit_code == 2
    assert "line 2: duplicate address" in result.stderr
    assert not out.exists()


def test_cli_missing_file_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        merkle_app, ["build", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "d.json")]
    )
    assert result.exit_code == 2
    assert "cannot read" in result.stderr


def test_module_runs_as_a_process(allocations_csv: Path, tmp_path: Path) -> None:
    dump = tmp_path / "dump.json"
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli_merkle", "build", str(allocations_csv), "--out", str(dump)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == StandardMerkleTree.load(json.loads(dump.read_text())).root


def test_townsquare_builds_without_typer(allocations_csv: Path, tmp_path: Path) -> None:
    # Start-up counts in this command: none of the heavy frameworks may come in with it.
    dump, claims = tmp_path / "dump.json", tmp_path / "claims.json"
    heavy = ["typer", "click", "pydantic", "sqlalchemy", "aiogram", "rich", "importlib.resources"]
    code = (
        "import sys; from bot.cli import app\n"
        "try:\n    app()\nexcept SystemExit as exit:\n"
        f"    print([m for m in {heavy!r} if m in sys.modules], exit.code)"
    )
    args = ["merkle", "build", str(allocations_csv), f"--out={dump}", "--claims", str(claims)]
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    root, verdict = done.stdout.splitlines()
    assert verdict == "[] 0"
    assert root == StandardMerkleTree.load(json.loads(dump.read_text())).root
    assert json.loads(claims.read_text())["merkleRoot"] == root


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["rows.csv"],
        ["rows.csv", "--out"],
        ["rows.csv", "--out", "d.json", "--chain", "tron"],
        ["rows.csv", "other.csv", "--out", "d.json"],
        ["rows.csv", "--out", "d.json", "--out", "e.json"],
        ["rows.csv", "--out", "d.json", "--verbose"],
    ],
)
def test_unusual_command_lines_go_to_typer(args: list[str]) -> None:
    assert parse_build(args) is None


@pytest.mark.parametrize("collecting", [True, False])
def test_build_pauses_cycle_collection_only_while_it_runs(
    allocations_csv: Path, tmp_path: Path, collecting: bool
) -> None:
    seen: list[bool] = []

    class Out(type(tmp_path)):  # type: ignore[misc]
        def open(self, *args: Any, **kwargs: Any) -> Any:
            seen.append(gc.isenabled())
            return super().open(*args, **kwargs)

    (gc.enable if collecting else gc.disable)()
    try:
        root = build(allocations_csv, Out(tmp_path / "dump.json"), progress=False)
        assert gc.isenabled() is collecting
    finally:
        gc.enable()
    assert seen == [False]
    assert root == StandardMerkleTree.load(json.loads((tmp_path / "dump.json").read_text())).root


def test_plain_command_lines_parse() -> None:
    got = parse_build(["--no-progress", "--chain=solana", "--out", "d.json", "--", "-rows.csv"])
    assert got == BuildArgs(Path("-rows.csv"), Path("d.json"), chain="solana", progress=False)


def test_townsquare_app_still_serves_typer_runner(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        townsquare, ["merkle", "build", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "d")]
    )
    assert result.exit_code == 2
    assert "cannot read" in result.stderr
    assert "Usage" in CliRunner().invoke(townsquare, ["--help"]).output


def test_cli_unwritable_out_exits_2(allocations_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "missing" / "d.json"
    result = CliRunner().invoke(merkle_app, ["build", str(allocations_csv), "--out", str(out)])
    assert result.exit_code == 2
    assert "cannot write" in result.stderr
