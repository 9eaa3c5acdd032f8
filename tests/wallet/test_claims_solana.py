"""Solana claims of a published settlement on LiteSVM: prepare, reuse, expiry, confirm, races."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from solders.keypair import Keypair
from sqlalchemy import func, select

from core.db import create_engine, session_factory, transaction
from core.migrate import upgrade
from core.models_claims import Claim
from engagement import settle_service
from engagement.settlement import SettlementError
from tests.engagement.test_settlement_store import CHAT, Sessions, close, evm, seed
from wallet.chains.litesvm import LiteSvmChain
from wallet.settlement_store import (
    ClaimLookupError,
    SolanaPayout,
    confirm_solana,
    lookup,
    prepare_solana,
)
from wallet.solana_claims import (
    AlreadyClaimed,
    build_grant_allowance_tx,
    from_wire,
    sign_as,
)

DECIMALS = 6
POOL = 1_000_000


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[Sessions]:
    await asyncio.to_thread(upgrade, database_url)
    engine = create_engine(database_url)
    yield session_factory(engine)
    await engine.dispose()


class World:
    def __init__(self) -> None:
        self.chain = LiteSvmChain()
        self.manager, self.authority = Keypair(), Keypair()
        self.chain.airdrop(self.manager.pubkey(), 10**9)
        self.mint = self.chain.create_mint(self.manager, DECIMALS)
        self.treasury = self.chain.create_ata(self.manager.pubkey(), self.mint, self.manager)
        self.chain.mint_to(self.mint, self.treasury, self.manager, 10 * POOL)
        self.members = [Keypair() for _ in range(3)]
        for kp in self.members:
            self.chain.airdrop(kp.pubkey(), 10**8)
        self.payout = SolanaPayout(self.chain, self.mint, DECIMALS, self.treasury, self.authority)

    def grant(self, amount: int) -> None:
        tx = build_grant_allowance_tx(
            treasury_owner=self.manager.pubkey(),
            treasury_token_account=self.treasury,
            mint=self.mint,
            decimals=DECIMALS,
            claim_authority=self.authority.pubkey(),
            amount=amount,
            recent_blockhash=self.chain.svm.latest_blockhash(),
            memo=f"townsquare:allowance:{CHAT}:1",
        )
        self.chain.send(sign_as(tx, self.manager))

    async def allowance(self) -> int:
        return (await self.chain.delegated_amount(self.treasury)).amount


async def settled(sessions: Sessions, world: World, *, grant: int = POOL) -> None:
    sol = {10 + i: str(kp.pubkey()) for i, kp in enumerate(world.members)}
    await seed(sessions, {10: 1, 11: 1, 12: 2, 13: 4}, solana=sol, evm={13: evm(13)})
    await close(sessions, POOL)
    world.grant(grant)
    async with transaction(sessions) as session:
        await settle_service.publish(
            session=session,
            chat_id=CHAT,
            number=1,
            allowance=await world.allowance(),
            treasury=str(world.treasury),
            mint=str(world.mint),
        )


async def prepare(sessions: Sessions, world: World, member: Keypair) -> Claim:
    async with transaction(sessions) as session:
        return await prepare_solana(
            session=session,
            chat_id=CHAT,
            number=1,
            owner=str(member.pubkey()),
            payout=world.payout,
        )


async def test_member_claims_through_the_prepared_tx(sessions: Sessions) -> None:
    world = World()
    await settled(sessions, world)
    member = world.members[0]
    first = await prepare(sessions, world, member)
    again = await prepare(sessions, world, member)
    assert first.tx and again.tx == first.tx and first.status == "prepared"
    sent = world.chain.send(sign_as(from_wire(first.tx), member))
    async with transaction(sessions) as session:
        done = await confirm_solana(
            session=session,
            chat_id=CHAT,
            number=1,
            owner=str(member.pubkey()),
            signature=str(sent.signature),
            chain=world.chain,
        )
    assert done.status == "confirmed"
    assert await world.chain.token_balance(member.pubkey(), world.mint) == POOL // 8
    with pytest.raises(AlreadyClaimed):
        await prepare(sessions, world, member)


async def test_expired_blockhash_gets_a_fresh_tx(sessions: Sessions) -> None:
    world = World()
    await settled(sessions, world)
    member = world.members[2]
    first = await prepare(sessions, world, member)
    world.chain.svm.expire_blockhash()
    fresh = await prepare(sessions, world, member)
    assert fresh.tx != first.tx and fresh.blockhash != first.blockhash
    world.chain.send(sign_as(from_wire(fresh.tx or ""), member))
    assert await world.chain.token_balance(member.pubkey(), world.mint) == POOL // 4


async def test_concurrent_prepares_share_one_claim(sessions: Sessions) -> None:
    world = World()
    await settled(sessions, world)
    member = world.members[1]
    claims = await asyncio.gather(*(prepare(sessions, world, member) for _ in range(6)))
    assert len({c.tx for c in claims}) == 1
    async with sessions() as session:
        count = (await session.exec(select(func.count()).select_from(Claim))).one()  # type: ignore[call-overload]
    assert count[0] == 1
    world.chain.send(sign_as(from_wire(claims[0].tx or ""), member))
    assert await world.chain.token_balance(member.pubkey(), world.mint) == POOL // 8


async def test_allowance_below_the_solana_total_is_refused(sessions: Sessions) -> None:
    world = World()
    with pytest.raises(SettlementError, match="allowance"):
        await settled(sessions, world, grant=POOL // 2 - 1)  # Solana members are owed POOL / 2


async def test_claims_before_publish_and_strangers(sessions: Sessions) -> None:
    world = World()
    sol = {10: str(world.members[0].pubkey())}
    await seed(sessions, {10: 1}, solana=sol)
    await close(sessions, POOL)
    with pytest.raises(ClaimLookupError, match="not published"):
        await prepare(sessions, world, world.members[0])
    world.grant(POOL)
    async with transaction(sessions) as session:
        await settle_service.publish(session=session, chat_id=CHAT, number=1, allowance=POOL)
    with pytest.raises(ClaimLookupError, match="no claim"):
        await prepare(sessions, world, world.members[1])
    async with sessions() as session:
        _, row = await lookup(session=session, chat_id=CHAT, number=1, account=sol[10])
    assert row.amount == str(POOL)
