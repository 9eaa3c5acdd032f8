"""Solidity sources and their committed compiled artifacts.

The artifacts are produced by ``python -m wallet.contracts.build``; runtime code only reads them.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"

__all__ = ["ARTIFACTS_DIR", "artifact_names", "load_artifact"]


@cache
def _read(name: str) -> dict[str, Any]:
    path = ARTIFACTS_DIR / f"{name}.json"
    if not name.isidentifier() or not path.is_file():
        known = ", ".join(artifact_names()) or "none"
        raise KeyError(f"no artifact named {name!r} (known: {known})")
    artifact: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return artifact


def load_artifact(name: str) -> dict[str, Any]:
    """Load a compiled contract by name.

    Args:
        name: the contract name, e.g. ``"MerkleDistributor"``.

    Returns:
        A fresh copy of the artifact: ``contractName``, ``abi``, ``bytecode``,
        ``deployedBytecode`` and ``compiler``.

    Raises:
        KeyError: when no artifact has that name.
    """
    return copy.deepcopy(_read(name))


def artifact_names() -> list[str]:
    """Names of the committed artifacts, sorted."""
    return sorted(path.stem for path in ARTIFACTS_DIR.glob("*.json"))
