"""Settlements whose dumps and claims files live under the data directory, on SQLite and
PostgreSQL: stored by path, served from disk, found by account through `accounts.bin`."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from core.db import transaction
from core.models_claims import Artefact
from core.settings import Settings
from engagement import settle_service
from engagement.settlement import AllocationParams
from engagement.settlement_files import resolve
from tests.engagement.test_settlement_store import CHAT, SOL, Sessions, evm, seed, sessions
from tests.miniapps.test_claims_api import claims_app
from wallet import settlement_store as store
from wallet.merkle import StandardMerkleTree

__all__ = ["sessions"]  # the fixture, parametrized over SQLite and PostgreSQL


async def _close(sessions: Sessions, files: Path) -> settle_service.Settlement:
    async with transaction(sessions) as session:
        _, result = await settle_service.close(
            session=session, chat_id=CHAT, number=1, params=AllocationParams(1000), files=files
        )
    return result


async def _artefacts(sessions: Sessions) -> dict[str, Artefact]:
    async with sessions() as session:
        return {a.name: a for a in (await session.exec(select(Artefact))).all()}


async def test_files_are_written_once_and_served_from_disk(
    sessions: Sessions, tmp_path: Path
) -> None:
    await seed(sessions, {1: 1, 2: 3, 3: 4}, evm={1: evm(1), 2: evm(2)}, solana={3: SOL})
    result = await _close(sessions, tmp_path)
    found = await _artefacts(sessions)
    for chain, tree in result.trees.items():
        for name, body in (("dump.json", tree.dump), ("claims.json", tree.claims)):
            artefact = found[f"{chain}/{name}"]
            assert artefact.body == b"" and artefact.path is not None
            assert artefact.path == f"settlements/{chain}-{tree.root[2:]}/{name}"
            assert resolve(tmp_path, artefact.path).read_bytes() == body
        assert found[f"{chain}/nodes.bin"].body == tree.nodes
        assert found[f"{chain}/accounts.bin"].body == tree.accounts
    assert not list(tmp_path.rglob(".*"))  # no temporary file is left behind
    async with transaction(sessions) as session:
        await settle_service.publish(session=session, chat_id=CHAT, number=1, allowance=500)
    app = claims_app(sessions)
    app.state.gateway.settings = Settings(data_dir=tmp_path)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        dump = await http.get(f"/epochs/{CHAT}/1/dump.json")
        assert dump.status_code == 200 and dump.headers["content-type"] == "application/json"
        assert StandardMerkleTree.load(dump.json()).root == result.root("evm")
        claims = (await http.get(f"/epochs/{CHAT}/1/claims.json?chain=solana")).json()
        assert claims["merkleRoot"] == result.root("solana") and list(claims["claims"]) == [SOL]
        proof = (await http.get(f"/v1/claims/{CHAT}/1/proof/{evm(2)}")).json()
        assert proof["amount"] == "375" and proof["root"] == result.root("evm")
        resolve(tmp_path, found["evm/claims.json"].path or "").unlink()
        missing = await http.get(f"/epochs/{CHAT}/1/claims.json")
        assert missing.status_code == 404 and "missing" in missing.json()["detail"]


async def test_a_closed_settlement_finds_rows_by_account(
    sessions: Sessions, tmp_path: Path
) -> None:
    await seed(sessions, {1: 1, 2: 3, 3: 4}, evm={1: evm(1), 2: evm(2)}, solana={3: SOL})
    await _close(sessions, tmp_path)
    async with transaction(sessions) as session:
        record = await settle_service.publish(
            session=session, chat_id=CHAT, number=1, allowance=500
        )
    async with sessions() as session:
        for account, member in ((evm(2).upper().replace("0X", "0x"), 2), (SOL, 3)):
            row = await store.row_of(session=session, record=record, account=account)
            assert row.member_id == member
        for account in (evm(3), "11111111111111111111111111111111", "not-base58!"):
            with pytest.raises(store.ClaimLookupError):
                await store.row_of(session=session, record=record, account=account)


async def test_a_rerun_after_a_rollback_reuses_the_same_files(
    sessions: Sessions, tmp_path: Path
) -> None:
    await seed(sessions, {1: 1, 2: 3}, evm={1: evm(1), 2: evm(2)})
    with pytest.raises(RuntimeError):
        async with transaction(sessions) as session:
            await settle_service.close(
                session=session, chat_id=CHAT, number=1, params=AllocationParams(1000),
                files=tmp_path,
            )  # fmt: skip
            raise RuntimeError("power cut after the files were written")
    written = {p: p.read_bytes() for p in tmp_path.rglob("*.json")}
    assert len(written) == 2 and not await _artefacts(sessions)
    result = await _close(sessions, tmp_path)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*.json")} == written
    assert json.loads(result.trees["evm"].claims)["merkleRoot"] == result.root("evm")


def test_stored_paths_stay_inside_the_data_directory(tmp_path: Path) -> None:
    (tmp_path / "inside.json").write_text("{}")
    assert resolve(tmp_path, "inside.json") == (tmp_path / "inside.json").resolve()
    for path in ("../outside.json", "/etc/passwd", "absent.json"):
        with pytest.raises(FileNotFoundError):
            resolve(tmp_path, path)
