"""Compile the Solidity sources into committed JSON artifacts.

``python -m wallet.contracts.build`` rebuilds ``wallet/contracts/artifacts/``;
``--check`` only compares and exits 1 when the committed artifacts differ from a fresh build.
The compiler is solcjs from the repository's ``node_modules``; its standard-JSON input uses
source unit names relative to the repository root and no metadata hash, so the bytecode does not
depend on where the checkout lives.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

CONTRACTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = CONTRACTS_DIR.parents[1]
ARTIFACTS_DIR = CONTRACTS_DIR / "artifacts"

SETTINGS: dict[str, Any] = {
    "evmVersion": "cancun",
    "metadata": {"bytecodeHash": "none"},
    "optimizer": {"enabled": True, "runs": 200},
    "remappings": ["@openzeppelin/=node_modules/@openzeppelin/"],
}
_OUTPUTS = ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]

# solcjs runs inside node; the import callback only reads OpenZeppelin files from node_modules
# (the remapping turns every `@openzeppelin/...` import into such a path).
_COMPILE_JS = r"""
const fs = require('fs');
const path = require('path');
const solc = require('solc');
const input = fs.readFileSync(0, 'utf8');
function findImports(name) {
  const normal = path.posix.normalize(name);
  if (!normal.startsWith('node_modules/@openzeppelin/') || normal.includes('..')) {
    return { error: 'import outside node_modules/@openzeppelin: ' + name };
  }
  try {
    return { contents: fs.readFileSync(normal, 'utf8') };
  } catch (e) {
    return { error: String(e) };
  }
}
const output = JSON.parse(solc.compile(input, { import: findImports }));
process.stdout.write(JSON.stringify({ version: solc.version(), output: output }));
"""


class BuildError(RuntimeError):
    """The compiler is missing or reported an error."""


def source_files(contracts_dir: Path = CONTRACTS_DIR) -> list[Path]:
    """List the Solidity sources, sorted by name."""
    return sorted(contracts_dir.glob("*.sol"))


def _standard_json(sources: list[Path], root: Path) -> str:
    units = {
        path.relative_to(root).as_posix(): {"content": path.read_text(encoding="utf-8")}
        for path in sources
    }
    # Output only for our own units: OpenZeppelin's are compiled but not exported.
    settings = dict(SETTINGS, outputSelection={unit: {"*": _OUTPUTS} for unit in units})
    return json.dumps({"language": "Solidity", "sources": units, "settings": settings})


def _run_solc(standard_json: str, root: Path) -> dict[str, Any]:
    if not (root / "node_modules" / "solc").is_dir():
        raise BuildError(f"solc is not installed under {root}/node_modules: run `npm ci`")
    try:
        done = subprocess.run(
            ["node", "-e", _COMPILE_JS],
            input=standard_json,
            capture_output=True,
            text=True,
            cwd=root,
            check=False,
            timeout=300,
        )
    except FileNotFoundError as exc:
        raise BuildError("node is not on PATH") from exc
    if done.returncode != 0:
        raise BuildError(f"solcjs failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def compile_contracts(root: Path = REPO_ROOT) -> dict[str, dict[str, Any]]:
    """Compile every source in ``wallet/contracts`` under ``root``.

    Args:
        root: repository root holding ``wallet/contracts`` and ``node_modules``.

    Returns:
        Artifacts by contract name, each with ``contractName``, ``abi``, ``bytecode``,
        ``deployedBytecode`` (0x-prefixed hex) and ``compiler`` (``version``, ``settings``).

    Raises:
        BuildError: when node or solc is missing, or the compiler reports an error or a warning
            (the sources are kept warning-free, so a warning is a regression).
    """
    sources = source_files(root / "wallet" / "contracts")
    result = _run_solc(_standard_json(sources, root), root)
    output = result["output"]
    messages = [e for e in output.get("errors", []) if e.get("severity") != "info"]
    if messages:
        raise BuildError("\n".join(e["formattedMessage"] for e in messages))
    version = result["version"].removesuffix(".Emscripten.clang")
    artifacts: dict[str, dict[str, Any]] = {}
    for unit in sorted(output["contracts"]):
        for name, contract in sorted(output["contracts"][unit].items()):
            bytecode = contract["evm"]["bytecode"]["object"]
            if "__$" in bytecode:
                raise BuildError(f"{name} needs library linking, which the build does not do")
            artifacts[name] = {
                "contractName": name,
                "abi": contract["abi"],
                "bytecode": "0x" + bytecode,
                "deployedBytecode": "0x" + contract["evm"]["deployedBytecode"]["object"],
                "compiler": {"version": version, "settings": SETTINGS},
            }
    return artifacts


def render(artifact: dict[str, Any]) -> str:
    """Serialise one artifact the way it is committed: sorted keys, two-space indent."""
    return json.dumps(artifact, indent=2, sort_keys=True) + "\n"


def write_artifacts(artifacts: dict[str, dict[str, Any]], out_dir: Path) -> None:
    """Write ``<Name>.json`` per artifact and delete artifacts of contracts that no longer exist."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("*.json"):
        if stale.stem not in artifacts:
            stale.unlink()
    for name, artifact in artifacts.items():
        (out_dir / f"{name}.json").write_text(render(artifact), encoding="utf-8")


def diff_artifacts(artifacts: dict[str, dict[str, Any]], out_dir: Path) -> list[str]:
    """Name the files in ``out_dir`` that differ from ``artifacts`` (missing, changed or stale)."""
    problems = []
    for name, artifact in sorted(artifacts.items()):
        path = out_dir / f"{name}.json"
        if not path.is_file():
            problems.append(f"missing: {path.name}")
        elif path.read_text(encoding="utf-8") != render(artifact):
            problems.append(f"differs: {path.name}")
    problems.extend(
        f"stale: {path.name}"
        for path in sorted(out_dir.glob("*.json"))
        if path.stem not in artifacts
    )
    return problems


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m wallet.contracts.build", description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare only, exit 1 on a diff")
    parser.add_argument("--out", type=Path, default=ARTIFACTS_DIR, help="artifacts directory")
    args = parser.parse_args(argv)
    try:
        artifacts = compile_contracts()
    except BuildError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.check:
        problems = diff_artifacts(artifacts, args.out)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("run `python -m wallet.contracts.build` to rebuild", file=sys.stderr)
        return 1 if problems else 0
    write_artifacts(artifacts, args.out)
    print(f"wrote {len(artifacts)} artifacts to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
