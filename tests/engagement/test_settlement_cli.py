"""`townsquare epoch close|publish|verify` against a real SQLite database."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from core.db import create_engine, session_factory
from core.migrate import upgrade
from tests.engagement.test_settlement_store import CHAT, evm, seed


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["epoch", *args])
    return result.exit_code, result.output


async def test_close_publish_verify(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TOWNSQUARE_DATABASE_URL", sqlite_url)
    await asyncio.to_thread(upgrade, sqlite_url)
    engine = create_engine(sqlite_url)
    await seed(session_factory(engine), {1: 3, 2: 1, 3: 1}, evm={1: evm(1), 2: evm(2)})
    await engine.dispose()
    chat = ["--chat", str(CHAT), "--epoch", "1"]

    code, out = await asyncio.to_thread(run, "close", *chat, "--pool", "2")
    assert code == 1 and "pool 2 is smaller than the 3 members" in out
    code, out = await asyncio.to_thread(run, "verify", *chat)
    assert code == 1 and "has no settlement" in out
    code, out = await asyncio.to_thread(run, "close", *chat, "--pool", "500")
    assert code == 0, out
    assert "held back for 1 members without a wallet: 100" in out
    root = next(line.split()[-1] for line in out.splitlines() if line.startswith("evm root"))
    assert root.startswith("0x") and len(root) == 66
    code, out = await asyncio.to_thread(run, "close", *chat, "--pool", "500")
    assert code == 1 and "already settled" in out
    code, out = await asyncio.to_thread(run, "publish", *chat)
    assert code == 0 and "published" in out, out
    code, out = await asyncio.to_thread(run, "verify", *chat)
    assert code == 0 and "match" in out, out

    rules = {
        "allocation": {"pool": "500", "min_score": 0, "cap_share": None, "transform": "linear"},
        "prefer": "evm",
        "excluded": [],
        "wallets": {"evm": {"1": evm(2), "2": evm(1)}, "solana": {}},
    }
    ledger = tmp_path / "ledger.jsonl"
    ledger.write_bytes(b'{"member_id":1,"points":3}\n{"member_id":2,"points":1}\n')
    (tmp_path / "rules.json").write_text(json.dumps(rules))
    code, out = await asyncio.to_thread(
        run, "verify", *chat, "--ledger", str(ledger), "--rules", str(tmp_path / "rules.json")
    )
    assert code == 1 and "MISMATCH" in out
