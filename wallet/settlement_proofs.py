"""Proof lookups of published settlements at request rates: one indexed query per claim.

A lookup finds an account's claim index in the tree's account lookup (`wallet.account_lookup`),
reads the claim row by primary key with one query (asyncpg keeps the statement prepared; SQLite
is read in place), without a session or ORM objects, and reads the proof from the tree's nodes;
the lookup and the nodes are kept in memory per root after the first request.
"""

from __future__ import annotations

import sqlite3
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from wallet.merkle_hash import keccak256

_ROW_SQL = (
    'SELECT "index", account, amount, tree_index FROM claims_rows '
    'WHERE settlement_id = {} AND chain = {} AND "index" = {}'
)
_SQLITE_ROW = _ROW_SQL.format("?", "?", "?")
_POSTGRES_ROW = _ROW_SQL.format("$1", "$2", "$3")
_CLAIM_SELECTOR = keccak256(b"claim(uint256,address,uint256,bytes32[])")[:4].hex()
# Blobs that stay in memory: the nodes (64 MB for 1M leaves) and the account lookup (24 MB)
# of the four most recently used trees.
_NODES_KEPT = 8


@dataclass(frozen=True, slots=True)
class ClaimRow:
    """One leaf of a published settlement: what a proof lookup answers with."""

    chain: str
    index: int
    account: str
    amount: str
    tree_index: int


_sqlite_readers: weakref.WeakKeyDictionary[AsyncEngine, sqlite3.Connection] = (
    weakref.WeakKeyDictionary()
)


def _sqlite_reader(engine: AsyncEngine) -> sqlite3.Connection | None:
    """A connection of our own to the engine's SQLite file, or None for an in-memory database.

    An indexed point read takes microseconds, less than handing it to aiosqlite's thread and
    back (twice, with the rollback when the connection returns to the pool), so lookups run in
    place. In WAL mode a reader never waits for the writer; outside a transaction, each query
    sees the latest commit.
    """
    reader = _sqlite_readers.get(engine)
    if reader is None:
        path = engine.url.database
        if not path or path == ":memory:" or path.startswith("file:"):
            return None
        # Autocommit, and only ever used for reads (a read-only open could fail on a WAL file
        # whose shared-memory file is not there yet).
        reader = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        reader.execute("PRAGMA busy_timeout = 2000")
        _sqlite_readers[engine] = reader
    return reader


async def claim_row(
    engine: AsyncEngine, settlement_id: int, chain: str, index: int
) -> ClaimRow | None:
    """The claim row with claim index `index` on `chain`, or None.

    One primary key read, without a session, a transaction or ORM objects: on SQLite through
    `_sqlite_reader`, on PostgreSQL on the driver's connection, checked out of the pool for it.
    """
    params = (settlement_id, chain, index)
    reader = _sqlite_reader(engine) if engine.dialect.name == "sqlite" else None
    if reader is not None:
        found = reader.execute(_SQLITE_ROW, params).fetchone()
    else:
        async with engine.connect() as conn:
            driver: Any = (await conn.get_raw_connection()).driver_connection
            if engine.dialect.name == "postgresql":
                found = await driver.fetchrow(_POSTGRES_ROW, *params)
            else:
                rows = await driver.execute_fetchall(_SQLITE_ROW, params)
                found = rows[0] if rows else None
    if found is None:
        return None
    number, stored, amount, tree_index = found
    return ClaimRow(chain, number, stored, amount, tree_index)


class NodeCache:
    """The blobs (nodes, account lookups) of the few most recently used trees.

    Keys start with the tree's root, which fixes the tree, so the cache can never serve another
    settlement's blobs.
    """

    def __init__(self, kept: int = _NODES_KEPT) -> None:
        self._nodes: OrderedDict[str, bytes] = OrderedDict()
        self._kept = kept

    async def get(self, key: str, load: Callable[[], Awaitable[bytes | None]]) -> bytes | None:
        """The blob kept under `key`, calling `load` when it is not kept."""
        blob = self._nodes.get(key)
        if blob is None:
            blob = await load()
            if blob is None:
                return None
            self._nodes[key] = blob
            while len(self._nodes) > self._kept:
                self._nodes.popitem(last=False)
        self._nodes.move_to_end(key)
        return blob


def claim_calldata(index: int, account: str, amount: int, proof: list[str]) -> str:
    """The ABI-encoded `claim(uint256 index, address account, uint256 amount, bytes32[] proof)`.

    Written out directly (selector, three words, the array's offset, length and items): the
    generic encoder costs more than the rest of a proof lookup.

    Args:
        index: The claim index.
        account: The `0x` address.
        amount: The amount in base units.
        proof: The proof, `0x` hex nodes.

    Returns:
        The call data, `0x` hex.
    """
    words = [
        f"{index:064x}",
        account[2:].lower().rjust(64, "0"),
        f"{amount:064x}",
        f"{0x80:064x}",
        f"{len(proof):064x}",
        *(node[2:] for node in proof),
    ]
    return "0x" + _CLAIM_SELECTOR + "".join(words)
