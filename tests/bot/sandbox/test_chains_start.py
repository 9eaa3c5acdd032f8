"""The sandbox chains start without holding up the gateway's event loop."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from bot.sandbox.chains import SPL_SUPPLY, SandboxChains
from core.settings import Settings
from wallet.chains import litesvm


async def test_the_solana_chain_is_built_off_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Building the chain and importing the chain modules takes over a second of CPU: on the
    # event loop the gateway would not answer meanwhile.
    built_on: list[threading.Thread] = []

    class Recorded(litesvm.LiteSvmChain):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            built_on.append(threading.current_thread())
            super().__init__(*args, **kwargs)

    async def no_evm(self: SandboxChains) -> None:
        return None

    monkeypatch.setattr(litesvm, "LiteSvmChain", Recorded)
    monkeypatch.setattr(SandboxChains, "_start_evm", no_evm)
    chains = SandboxChains(Settings(mode="sandbox"))
    try:
        await chains.start()
        assert chains.state == "ready", chains.error
        assert built_on and built_on[0] is not threading.current_thread()
        assert chains.solana is not None and chains.rpc is not None
        assert chains.mint is not None and chains.treasury is not None
        owner = chains.treasury_owner.pubkey()
        assert await chains.solana.token_balance(owner, chains.mint) == SPL_SUPPLY
        assert chains.describe()["solana_rpc_url"] == chains.rpc.url
    finally:
        await chains.stop()
