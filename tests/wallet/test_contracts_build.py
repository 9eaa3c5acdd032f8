"""The committed contract artifacts are exactly what the sources compile to."""

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from wallet.contracts import ARTIFACTS_DIR, artifact_names, build, load_artifact

pytestmark = pytest.mark.chain

CONTRACTS = ["DemoContractWallet", "DemoToken", "MerkleDistributor"]


@pytest.fixture(scope="module")
def fresh() -> dict[str, dict[str, Any]]:
    """One compilation for the module (solcjs takes a few seconds)."""
    return build.compile_contracts()


def test_every_source_has_a_committed_artifact(fresh: dict[str, dict[str, Any]]) -> None:
    assert sorted(fresh) == CONTRACTS
    assert artifact_names() == CONTRACTS


@pytest.mark.parametrize("name", CONTRACTS)
def test_committed_artifact_matches_a_fresh_build(
    fresh: dict[str, dict[str, Any]], name: str
) -> None:
    committed = load_artifact(name)
    assert committed["abi"] == fresh[name]["abi"]
    assert committed["bytecode"] == fresh[name]["bytecode"]
    assert committed["deployedBytecode"] == fresh[name]["deployedBytecode"]
    assert committed["compiler"] == fresh[name]["compiler"]
    assert (ARTIFACTS_DIR / f"{name}.json").read_text() == build.render(fresh[name])


def test_build_does_not_depend_on_the_checkout_path(
    fresh: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    sources = tmp_path / "wallet" / "contracts"
    sources.mkdir(parents=True)
    for source in build.source_files():
        shutil.copy(source, sources / source.name)
    (tmp_path / "node_modules").symlink_to(build.REPO_ROOT / "node_modules")
    assert build.compile_contracts(tmp_path) == fresh


def test_artifact_shape(fresh: dict[str, dict[str, Any]]) -> None:
    for name, artifact in fresh.items():
        assert set(artifact) == {"contractName", "abi", "bytecode", "deployedBytecode", "compiler"}
        assert artifact["contractName"] == name
        int(artifact["bytecode"], 16)
        assert len(artifact["deployedBytecode"]) > 100
        # No metadata hash: the CBOR tail holds only {"solc": version}, so the bytecode does
        # not change with comments, paths or whitespace in the sources.
        version = artifact["compiler"]["version"].split("+")[0]
        solc = bytes(int(part) for part in version.split(".")).hex()
        assert artifact["deployedBytecode"].endswith(f"a164736f6c6343{solc}000a")
        assert artifact["compiler"]["settings"]["evmVersion"] == "cancun"
    errors = {e["name"] for e in fresh["MerkleDistributor"]["abi"] if e["type"] == "error"}
    assert {
        "AlreadyClaimed", "InvalidProof", "ClaimWindowClosed", "ClaimWindowOpen", "DeadlineInPast"
    } <= errors  # fmt: skip


def test_diff_and_write(fresh: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    assert build.diff_artifacts(fresh, tmp_path) == [f"missing: {name}.json" for name in CONTRACTS]
    (tmp_path / "Gone.json").write_text("{}")
    build.write_artifacts(fresh, tmp_path)
    assert build.diff_artifacts(fresh, tmp_path) == []
    assert not (tmp_path / "Gone.json").exists()

    tampered = json.loads((tmp_path / "DemoToken.json").read_text())
    tampered["bytecode"] = tampered["bytecode"][:-2] + "00"
    (tmp_path / "DemoToken.json").write_text(build.render(tampered))
    (tmp_path / "Extra.json").write_text("{}")
    assert build.diff_artifacts(fresh, tmp_path) == ["differs: DemoToken.json", "stale: Extra.json"]


def test_main_check_exit_codes(
    fresh: dict[str, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(build, "compile_contracts", lambda: fresh)
    assert build.main(["--check", "--out", str(tmp_path)]) == 1
    assert build.main(["--out", str(tmp_path)]) == 0
    assert build.main(["--check", "--out", str(tmp_path)]) == 0


def test_compile_error_is_reported(tmp_path: Path) -> None:
    sources = tmp_path / "wallet" / "contracts"
    sources.mkdir(parents=True)
    (sources / "Broken.sol").write_text("pragma solidity ^0.8.24; contract Broken { uint x = ; }")
    (tmp_path / "node_modules").symlink_to(build.REPO_ROOT / "node_modules")
    with pytest.raises(build.BuildError, match="Broken.sol"):
        build.compile_contracts(tmp_path)


def test_load_artifact_rejects_unknown_names() -> None:
    for name in ("Nope", "../build", ""):
        with pytest.raises(KeyError):
            load_artifact(name)
    first = load_artifact("DemoToken")
    first["abi"].clear()
    assert load_artifact("DemoToken")["abi"]
