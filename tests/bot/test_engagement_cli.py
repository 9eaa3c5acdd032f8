"""`townsquare ledger export|rules|check` against a real database file."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli_ledger import ledger_app
from core import repo
from core.db import create_engine, session_factory, transaction
from core.migrate import upgrade
from engagement import epochs, grants
from engagement.ingest import IncomingMessage, score_message

CHAT = -1009990001
T0 = datetime(2026, 11, 20, 8, tzinfo=UTC)


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    upgrade(url)

    async def fill() -> None:
        engine = create_engine(url)
        sessions = session_factory(engine)
        async with transaction(sessions) as session:
            await repo.upsert_chat(
                session=session, id=CHAT, type="supergroup", title="C", username=None
            )
        for i, (member, seconds) in enumerate([(7, 0), (7, 10), (8, 20)], start=1):
            msg = IncomingMessage(
                CHAT,
                i,
                member,
                100 + i,
                T0 + timedelta(seconds=seconds),
                f"message number {i} with words, 中文",
            )
            async with transaction(sessions) as session:
                await score_message(session=session, msg=msg)
        async with transaction(sessions) as session:
            await grants.manual(
                session=session,
                chat_id=CHAT,
                member_id=8,
                points=5,
                by=1,
                reason='helpful, "really"',
                update_id=900,
            )
            await epochs.close(session=session, chat_id=CHAT, at=T0 + timedelta(hours=1))
        await engine.dispose()

    asyncio.run(fill())
    monkeypatch.setenv("TOWNSQUARE_DATABASE_URL", url)
    return url


def test_export_csv_and_jsonl_list_every_entry_with_its_cause(
    database: str, tmp_path: Path
) -> None:
    runner = CliRunner()
    as_csv = runner.invoke(ledger_app, ["export", "--chat", str(CHAT), "--epoch", "1"])
    assert as_csv.exit_code == 0, as_csv.output
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [(r["cause"], r["member_id"], r["rule"], r["points"]) for r in rows] == [
        ("msg:1", "7", "message", "10"),
        ("msg:2", "7", "cooldown", "0"),
        ("msg:3", "8", "message", "10"),
        ("manual:900", "8", "grant", "5"),
    ]
    assert rows[-1]["reason"] == 'helpful, "really"' and rows[-1]["actor_id"] == "1"
    assert all(r["epoch"] == "1" and r["rules_version"] == "1" for r in rows)

    out = tmp_path / "ledger.jsonl"
    as_jsonl = runner.invoke(
        ledger_app,
        ["export", "--chat", str(CHAT), "--epoch", "1", "--format", "jsonl", "--out", str(out)],
    )
    assert as_jsonl.exit_code == 0, as_jsonl.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["cause"] for line in lines] == [r["cause"] for r in rows]
    assert lines[0]["occurred_at"] == T0.isoformat()
    assert isinstance(lines[0]["text_hash"], int)


def test_rules_and_check(database: str) -> None:
    runner = CliRunner()
    shown = runner.invoke(ledger_app, ["rules", "--chat", str(CHAT), "--epoch", "1"])
    assert shown.exit_code == 0, shown.output
    (version,) = json.loads(shown.stdout)
    assert version["version"] == 1 and version["rules"]["message"]["points"] == 10
    checked = runner.invoke(ledger_app, ["check", "--chat", str(CHAT), "--epoch", "1"])
    assert checked.exit_code == 0 and "ok: 2 members, 25 points" in checked.stdout


def test_unknown_epoch_is_an_error(database: str) -> None:
    result = CliRunner().invoke(ledger_app, ["export", "--chat", str(CHAT), "--epoch", "9"])
    assert result.exit_code == 1
    assert "has no epoch 9" in result.output


def test_check_finds_a_drifted_cache(database: str) -> None:
    import sqlite3

    path = database.split("///", 1)[1]
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE engagement_scores SET points = points + 1 WHERE member_id = 7")
    result = CliRunner().invoke(ledger_app, ["check", "--chat", str(CHAT), "--epoch", "1"])
    assert result.exit_code == 1
    assert "member 7: ledger 10, cache 11" in result.stdout


def test_check_finds_drifted_totals(database: str) -> None:
    import sqlite3

    path = database.split("///", 1)[1]
    with sqlite3.connect(path) as conn:
        conn.execute(
            "UPDATE engagement_member_totals SET entries = entries + 1"
            " WHERE member_id = 7 AND rule = 'cooldown'"
        )
    result = CliRunner().invoke(ledger_app, ["check", "--chat", str(CHAT), "--epoch", "1"])
    assert result.exit_code == 1
    assert result.stdout == (
        "member 7 message/cooldown: ledger 0 points in 1 entries, totals 0 points in 2 entries\n"
    )
