"""Fixtures for tests that need an EVM chain: one anvil for the session, fresh clients per test."""

from collections.abc import AsyncIterator, Iterator

import pytest
from web3 import AsyncHTTPProvider, AsyncWeb3

from wallet.chains.anvil import Anvil


@pytest.fixture(scope="session")
def anvil() -> Iterator[Anvil]:
    """One anvil node shared by the whole session (starts in well under a second)."""
    with Anvil() as node:
        yield node


@pytest.fixture
def anvil_snapshot(anvil: Anvil) -> Iterator[Anvil]:
    """The session's anvil, reverted after the test to the state it had before.

    Use it in tests that move the chain's clock, so later tests see the usual state.
    """
    snapshot = anvil.rpc("evm_snapshot")
    yield anvil
    anvil.rpc("evm_revert", [snapshot])


@pytest.fixture
async def w3(anvil: Anvil) -> AsyncIterator[AsyncWeb3]:
    """An ``AsyncWeb3`` connected to the session's anvil."""
    client = AsyncWeb3(AsyncHTTPProvider(anvil.rpc_url))
    yield client
    await client.provider.disconnect()
