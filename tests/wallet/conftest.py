"""Fixtures for tests that need an EVM chain (one anvil for the session, fresh clients per test),
and for tests that hash on each Keccak-256 path."""

import shutil
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


def require_native() -> None:
    """Our C library must be there wherever `make deps` could compile it; only a machine with no
    C compiler hashes on pycryptodome alone, and there the native cases cannot run."""
    if keccak_native.available():
        return
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler here: pycryptodome does the hashing")
    pytest.fail(f"run `make deps` to build {keccak_native.LIBRARY}")


@pytest.fixture(params=["native", "arena", "pycryptodome"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test with our C library, pycryptodome's arena, and pycryptodome's public API."""
    if request.param == "native":
        require_native()
    if request.param != "native":
        monkeypatch.setattr(keccak_native, "_library", lambda: None)
    if request.param == "pycryptodome":
        monkeypatch.setattr(merkle_hash, "_backend", lambda: None)
    return str(request.param)
