"""The large published files of a settlement, kept as files under the data directory.

A million claims make a claims file of about 1.25 GB and a dump of about 250 MB: too large to
hold in memory or in a database row. `close` streams them to disk and stores only their path.

Files are named by chain and root (`settlements/evm-<root hex>/claims.json`). A root fixes every
leaf, so it fixes the file's bytes: a close that rolls back leaves a file that the same close,
run again, would write identically, and two settlements with the same tree share one file. A
file is written under a temporary name and renamed into place, so a name only ever holds a
complete file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from io import BytesIO
from pathlib import Path
from typing import Any

from engagement.settlement import ChainTree

TREE_FILES = ("dump.json", "claims.json")
JSON_TYPE = "application/json"


def tree_file_path(tree: ChainTree, name: str) -> str:
    """Where file `name` of `tree` lives, relative to the data directory (POSIX separators)."""
    if name not in TREE_FILES:
        raise ValueError(f"unknown tree file {name!r}")
    return f"settlements/{tree.chain}-{tree.root.removeprefix('0x')}/{name}"


def _write(tree: ChainTree, name: str, out: Any) -> None:
    if name == "dump.json":
        tree.write_dump(out)
    else:
        tree.write_claims(out)


def tree_artefact(directory: Path | None, tree: ChainTree, name: str) -> dict[str, Any]:
    """The artefact row of file `name` of `tree`, streaming the file under `directory`.

    Args:
        directory: The data directory, or None to keep the file's bytes in the row.
        tree: The chain's tree.
        name: `dump.json` or `claims.json`.

    Returns:
        `name`, `media_type`, `body` (empty when on disk) and `path` (None when in the row).
    """
    artefact = {"name": f"{tree.chain}/{name}", "media_type": JSON_TYPE}
    if directory is None:
        out = BytesIO()
        _write(tree, name, out)
        return artefact | {"body": out.getvalue(), "path": None}
    return artefact | {"body": b"", "path": _write_file(directory, tree, name)}


def _write_file(directory: Path, tree: ChainTree, name: str) -> str:
    """Streams file `name` of `tree` under `directory` unless it is there; its relative path."""
    relative = tree_file_path(tree, name)
    target = directory / relative
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{name}.")
        try:
            with os.fdopen(handle, "wb") as out:
                _write(tree, name, out)
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
    return relative


def resolve(directory: Path, relative: str) -> Path:
    """The file of a stored artefact path, which must stay inside `directory`.

    Raises:
        FileNotFoundError: The path leads outside `directory`, or the file is gone.
    """
    root = directory.resolve()
    found = (root / relative).resolve()
    if not found.is_relative_to(root) or not found.is_file():
        raise FileNotFoundError(relative)
    return found
