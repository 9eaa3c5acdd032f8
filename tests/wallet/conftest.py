"""Fixtures for tests that need an EVM chain (one anvil for the session, fresh clients per test),
and for tests that hash on each Keccak-256 path."""

from collections.abc import AsyncIterator, Iterator

import pytest
from web3 import AsyncHTTPProvider, AsyncWeb3

from wallet import keccak_native, merkle_hash
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


@pytest.fixture(params=["native", "arena", "pycryptodome"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test with our C library, pycryptodome's arena, and pycryptodome's public API."""
    if request.param == "native" and not keccak_native.available():
        pytest.skip("the native library is not built")
    if request.param != "native":
        monkeypatch.setattr(keccak_native, "_library", lambda: None)
    if request.param == "pycryptodome":
        monkeypatch.setattr(merkle_hash, "_backend", lambda: None)
    return str(request.param)
