"""The sandbox's chains: anvil with a demo ERC-20 and an in-process LiteSVM with a demo SPL mint.

They start in the background from the gateway's lifespan, so `/healthz` answers at once; until
they are up, pages and APIs that need them say the chain is still starting. The operator (the
`operator_key` setting, else anvil's first dev account) holds both demo treasuries; with
`auto_fund` it funds each published epoch: it deploys and funds the EVM distributor and
approves the epoch's claim authority as delegate of the Solana treasury. Chain state lives in
memory and starts afresh with the gateway.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from solders.keypair import Keypair
from solders.pubkey import Pubkey

from core.models_claims import Settlement
from core.settings import Settings
from miniapps.claims import ChainUnavailable
from wallet.settlement_store import SolanaPayout
from wallet.solana_claims import build_grant_allowance_tx, sign_as

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from web3 import AsyncWeb3

    from wallet.chains.anvil import Anvil
    from wallet.chains.litesvm import LiteSvmChain
    from wallet.chains.litesvm_rpc import LiteSvmRpc

# The chain modules (anvil, the LiteSVM RPC server, the contracts) are imported when the chains
# start, in the background: the gateway answers /healthz without waiting for them.

log = logging.getLogger(__name__)

TOKEN_NAME, TOKEN_SYMBOL = "Townsquare Demo", "TSQ"
TOKEN_SUPPLY = 10**18  # a billion tokens of 9 decimals, as on the SPL mint
SPL_DECIMALS = 9
SPL_SUPPLY = 10**18  # a billion tokens of 9 decimals; fits a u64
CLAIM_WINDOW = 30 * 24 * 3600  # seconds between funding and the distributor's deadline
GAS_WEI = 10**18  # what a recipient's EVM wallet gets for gas in the sandbox
GAS_LAMPORTS = 10**9  # and a Solana wallet, for fees and its token account's rent

State = Literal["starting", "ready", "failed"]


@dataclass(frozen=True)
class Funding:
    """Where an epoch's claims are paid from, as `settle_service.publish` records it."""

    distributor: str | None = None
    chain_id: str | None = None
    treasury: str | None = None
    mint: str | None = None
    allowance: int | None = None


@dataclass
class SandboxChains:
    """The running demo chains and the keys of their treasuries."""

    settings: Settings
    state: State = "starting"
    error: str = ""
    anvil: Anvil | None = None
    w3: AsyncWeb3 | None = None
    token: str = ""
    solana: LiteSvmChain | None = None
    rpc: LiteSvmRpc | None = None
    mint: Pubkey | None = None
    treasury: Pubkey | None = None
    decimals: int = SPL_DECIMALS
    operator: LocalAccount = field(init=False)
    treasury_owner: Keypair = field(init=False)
    _authorities: dict[int, Keypair] = field(default_factory=dict)

    def _prepare(self) -> tuple[LiteSvmChain, Pubkey, Pubkey]:
        """On a worker thread: imports the chain modules, loads the operator's keys and builds
        the Solana chain with its demo mint and treasury, returned as (chain, mint, treasury)
        for `_start_solana`."""
        # Over a second of CPU: importing eth_account alone takes 0.7 to 0.9 s on a 2-core
        # machine (py_ecc computes its curve constants in Python), LiteSVM and web3 0.5 s more.
        # On the event loop, the gateway would not answer for that long just after its start-up.
        from eth_account import Account
        from web3 import AsyncWeb3  # noqa: F401

        from wallet import distributor  # noqa: F401
        from wallet.chains.anvil import dev_accounts
        from wallet.chains.litesvm import LiteSvmChain
        from wallet.chains.litesvm_rpc import LiteSvmRpc  # noqa: F401

        key = self.settings.operator_key.get_secret_value()
        self.operator = Account.from_key(key) if key else dev_accounts(1)[0]
        # One operator key for both chains: its 32 bytes seed the Solana treasury owner.
        owner = self.treasury_owner = Keypair.from_seed(bytes(self.operator.key))
        chain = LiteSvmChain()
        chain.airdrop(owner.pubkey(), 100 * GAS_LAMPORTS)
        mint = chain.create_mint(owner, SPL_DECIMALS)
        treasury = chain.create_ata(owner.pubkey(), mint, owner)
        chain.mint_to(mint, treasury, owner, SPL_SUPPLY)
        return chain, mint, treasury

    @property
    def chain_id(self) -> str:
        return str(self.anvil.chain_id) if self.anvil is not None else ""

    def describe(self) -> dict[str, Any]:
        """The chains' state and addresses, for pages and logs."""
        return {
            "state": self.state,
            "error": self.error,
            "evm_rpc_url": self.anvil.rpc_url if self.anvil and self.anvil.running else "",
            "chain_id": self.chain_id,
            "token": self.token,
            "solana_rpc_url": self.rpc.url if self.rpc is not None else "",
            "mint": str(self.mint or ""),
            "treasury": str(self.treasury or ""),
        }

    def require(self) -> None:
        """Raises `ChainUnavailable` with a plain reason unless the chains are up."""
        if self.state == "starting":
            raise ChainUnavailable("the sandbox chains are still starting: try again in a moment")
        if self.state == "failed":
            raise ChainUnavailable(f"the sandbox chains did not start: {self.error}")

    def claim_authority(self, chat_id: int) -> Keypair:
        """The group's delegate on the Solana treasury, made once per gateway run: one for all
        its epochs, as a token account has a single delegate."""
        return self._authorities.setdefault(chat_id, Keypair())

    def solana_payout(self, record: Settlement) -> SolanaPayout | None:
        """How to pay `record`'s Solana claims, when they are drawn on the demo mint."""
        self.require()
        assert self.solana is not None and self.mint is not None
        if record.mint != str(self.mint) or record.treasury is None:
            return None
        authority = self.claim_authority(record.chat_id)
        treasury = Pubkey.from_string(record.treasury)
        return SolanaPayout(self.solana, self.mint, self.decimals, treasury, authority)

    def evm_client(self, record: Settlement) -> AsyncWeb3 | None:
        """A client of anvil, when `record`'s distributor lives there."""
        self.require()
        return self.w3 if record.chain_id == self.chain_id else None

    async def start(self) -> None:
        """Brings both chains up; a failure is kept in `error` for the pages to show."""
        try:
            await self._start_solana(*await asyncio.to_thread(self._prepare))
            await self._start_evm()
        except Exception as exc:
            log.exception("sandbox chains did not start")
            self.state, self.error = "failed", str(exc) or type(exc).__name__
            return
        self.state = "ready"
        log.info("sandbox chains ready: %s", self.describe())

    async def _start_evm(self) -> None:
        from wallet import distributor
        from wallet.chains.anvil import Anvil

        anvil = Anvil(port=self.settings.anvil_port or None)
        await anvil.__aenter__()
        self.anvil = anvil
        from web3 import AsyncHTTPProvider, AsyncWeb3

        self.w3 = AsyncWeb3(AsyncHTTPProvider(anvil.rpc_url))
        await self.w3.provider.make_request(
            "anvil_setBalance", [self.operator.address, hex(10**24)]
        )  # type: ignore[arg-type]
        self.token = await distributor.deploy_token(
            self.w3,
            name=TOKEN_NAME,
            symbol=TOKEN_SYMBOL,
            supply=TOKEN_SUPPLY,
            deployer_key=self.operator,
        )

    async def _start_solana(self, chain: LiteSvmChain, mint: Pubkey, treasury: Pubkey) -> None:
        from wallet.chains.litesvm_rpc import LiteSvmRpc

        rpc = LiteSvmRpc(chain.svm)
        await rpc.start()
        self.solana, self.rpc, self.mint, self.treasury = chain, rpc, mint, treasury

    async def stop(self) -> None:
        """Stops the RPC server and anvil (idempotent)."""
        if self.rpc is not None:
            await self.rpc.stop()
            self.rpc = None
        if self.w3 is not None:
            await self.w3.provider.disconnect()  # type: ignore[attr-defined]
        if self.anvil is not None:
            await asyncio.to_thread(self.anvil.stop)

    async def fund_evm(self, *, root: str, total: int) -> Funding:
        """Deploys a distributor for `root` owned by the operator and funds it with `total`."""
        from wallet import distributor

        self.require()
        assert self.w3 is not None
        block = await self.w3.eth.get_block("latest")
        address = await distributor.deploy_distributor(
            self.w3,
            token=self.token,
            merkle_root=root,
            claim_deadline=int(block["timestamp"]) + CLAIM_WINDOW,
            owner_key=self.operator,
        )
        await distributor.fund(
            self.w3, token=self.token, distributor=address, amount=total, funder_key=self.operator
        )
        return Funding(distributor=address, chain_id=self.chain_id)

    def grant_solana(self, *, chat_id: int, epoch: int, total: int) -> Funding:
        """Approves the group's claim authority as delegate of the treasury for `total` (what
        the epoch's members and the group's earlier epochs' unpaid members may claim)."""
        self.require()
        assert self.solana is not None and self.mint is not None and self.treasury is not None
        owner = self.treasury_owner
        tx = build_grant_allowance_tx(
            treasury_owner=owner.pubkey(),
            treasury_token_account=self.treasury,
            mint=self.mint,
            decimals=SPL_DECIMALS,
            claim_authority=self.claim_authority(chat_id).pubkey(),
            amount=total,
            recent_blockhash=self.solana.svm.latest_blockhash(),
            memo=f"townsquare:allowance:{chat_id}:{epoch}",
        )
        self.solana.send(sign_as(tx, owner))
        return Funding(treasury=str(self.treasury), mint=str(self.mint), allowance=total)

    async def give_gas(self, *, evm: list[str], solana: list[str]) -> None:
        """Sandbox faucet: recipients' wallets get enough to pay for their claim."""
        self.require()
        assert self.w3 is not None and self.solana is not None
        for address in evm:
            await self.w3.provider.make_request("anvil_setBalance", [address, hex(GAS_WEI)])  # type: ignore[arg-type]
        for owner in solana:
            pubkey = Pubkey.from_string(owner)
            if (self.solana.svm.get_balance(pubkey) or 0) < GAS_LAMPORTS:
                self.solana.airdrop(pubkey, GAS_LAMPORTS)


async def _run(chains: SandboxChains, after: Awaitable[Any] | None) -> None:
    # One task owns the chains' lifetime: the lifespan cancels it on shutdown, which stops them.
    try:
        if after is not None:
            await after
        await chains.start()
        await asyncio.Event().wait()
    finally:
        await chains.stop()


def start_chains(gateway: Any, *, after: Awaitable[Any] | None = None) -> None:
    """The lifespan hook: starts the sandbox chains in the background (not in production).

    They say "starting" at once, but start only once `after` is done: loading web3 and
    LiteSVM takes this process's CPU, and the gateway's own start-up should not share it.
    """
    if not gateway.settings.is_sandbox or not gateway.settings.sandbox_chains:
        return
    gateway.chains = gateway.dp["chains"] = SandboxChains(gateway.settings)
    gateway.tasks.append(asyncio.create_task(_run(gateway.chains, after)))
