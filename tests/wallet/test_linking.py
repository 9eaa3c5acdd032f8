"""Wallet linking services (wallet.linking, wallet.link_messages) on SQLite and PostgreSQL:
tokens, challenges, verification, the one-owner and one-primary policy, and the audit log."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import base58
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from hypothesis import given
from hypothesis import strategies as st
from nacl.signing import SigningKey
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import SQLModel, func, select
from sqlmodel.ext.asyncio.session import AsyncSession
from web3 import AsyncWeb3

from core import repo
from core.db import create_engine, session_factory, transaction
from core.models_wallet import WalletAudit, WalletChallenge, WalletLink, WalletLinkToken
from tests.conftest import POSTGRES_ADMIN_DSN, pg_execute, unavailable
from wallet import link_messages as lm
from wallet import linking, siwe, siws
from wallet.chains.anvil import Anvil
from wallet.distributor import deploy_contract
from wallet.errors import (
    AddressMismatch,
    DomainMismatch,
    Expired,
    InvalidAddress,
    InvalidSignature,
    NotYetValid,
    VerificationError,
)

DOMAIN = "town.example"
URI = "https://town.example"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ALICE, BOB = 101, 202
EVM_KEY: LocalAccount = Account.from_key("0x" + "11" * 32)
EVM_OTHER: LocalAccount = Account.from_key("0x" + "22" * 32)
SOL_KEY = SigningKey(bytes([7]) * 32)
SOL_ADDRESS = base58.b58encode(bytes(SOL_KEY.verify_key)).decode()
SOL_OTHER = SigningKey(bytes([8]) * 32)
SOL_OTHER_ADDRESS = base58.b58encode(bytes(SOL_OTHER.verify_key)).decode()
TABLES = [
    SQLModel.metadata.tables[name]
    for name in (
        "members",
        "memberships",
        "wallet_links",
        "wallet_link_tokens",
        "wallet_challenges",
        "wallet_audit_log",
    )
]


def evm_sign(text: str, account: LocalAccount = EVM_KEY) -> str:
    return (
        "0x" + bytes(Account.sign_message(encode_defunct(text=text), account.key).signature).hex()
    )


def sol_sign(text: str, key: SigningKey = SOL_KEY) -> str:
    return "0x" + key.sign(text.encode()).signature.hex()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def module_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One database per backend for the whole module (emptied before each test): creating a
    PostgreSQL database per test would dominate the run time."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('linking') / 'linking.db'}"
        return
    name = f"townsquare_link_{secrets.token_hex(6)}"
    try:
        pg_execute(f'CREATE DATABASE "{name}"')
    except (TimeoutError, OSError) as exc:
        unavailable("PostgreSQL", exc)
    base = POSTGRES_ADMIN_DSN.rsplit("/", 1)[0]
    yield f"postgresql+asyncpg://{base.split('://', 1)[1]}/{name}"
    pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def sessions(module_database: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(module_database)
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: SQLModel.metadata.create_all(sync, tables=TABLES))
        for table in reversed(TABLES):
            await conn.execute(table.delete())
    factory = session_factory(engine)
    async with transaction(factory) as session:
        for member_id, name in ((ALICE, "alice"), (BOB, "bob")):
            await repo.upsert_member(
                session=session,
                id=member_id,
                username=name,
                first_name=name.title(),
                last_name=None,
                language_code="en",
                is_bot=False,
            )
    yield factory
    await engine.dispose()


Run = Callable[..., Awaitable[Any]]


@pytest.fixture
def run(sessions: async_sessionmaker[AsyncSession]) -> Run:
    """Runs one service call in its own committed transaction: `await run(linking.x, ...)`."""

    async def call(service: Callable[..., Awaitable[Any]], **kwargs: Any) -> Any:
        async with transaction(sessions) as session:
            return await service(session=session, **kwargs)

    return call


async def snapshot(sessions: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    """Everything a refused request must leave alone."""
    async with sessions() as session:
        links = (await session.exec(select(WalletLink.address, WalletLink.unlinked_at))).all()
        audit = (await session.exec(select(func.count()).select_from(WalletAudit))).one()
        used_nonces = (
            await session.exec(select(WalletChallenge.nonce).where(WalletChallenge.used_at != None))  # noqa: E711
        ).all()
        used_tokens = (
            await session.exec(select(WalletLinkToken.id).where(WalletLinkToken.used_at != None))  # noqa: E711
        ).all()
    return {"links": sorted(links), "audit": audit, "nonces": used_nonces, "tokens": used_tokens}


async def challenge(
    run: Run, token: str, family: str, address: str, now: datetime = T0
) -> linking.Challenge:
    return await run(
        linking.issue_challenge,
        token=token,
        family=family,
        address=address,
        domain=DOMAIN,
        uri=URI,
        now=now,
    )


async def verify(
    run: Run, token: str, address: str, message: str, signature: str, **extra: Any
) -> WalletLink:
    """Completes a link; the family follows from the address (EVM ones start with 0x)."""
    return await run(
        linking.verify_link,
        token=token,
        family="evm" if address.startswith("0x") else "solana",
        address=address,
        message=message,
        signature=signature,
        domain=extra.pop("domain", DOMAIN),
        now=extra.pop("now", T0),
        **extra,
    )


async def link_evm(run: Run, member: int, account: LocalAccount = EVM_KEY) -> WalletLink:
    token = await run(linking.issue_token, member_id=member, family="evm", now=T0)
    issued = await challenge(run, token, "evm", account.address)
    return await verify(
        run, token, account.address, issued.message, evm_sign(issued.message, account)
    )


async def link_sol(run: Run, member: int, key: SigningKey = SOL_KEY) -> WalletLink:
    address = base58.b58encode(bytes(key.verify_key)).decode()
    token = await run(linking.issue_token, member_id=member, family="solana", now=T0)
    issued = await challenge(run, token, "solana", address)
    return await verify(run, token, address, issued.message, sol_sign(issued.message, key))


# --- the happy paths --------------------------------------------------------------------------


async def test_evm_wallet_links_by_signature(run: Run, sessions: Any) -> None:
    token = await run(linking.issue_token, member_id=ALICE, family="evm", now=T0)
    issued = await challenge(run, token, "evm", EVM_KEY.address.lower())
    parsed = siwe.parse(issued.message)
    assert (parsed.domain, parsed.uri, parsed.chain_id) == (DOMAIN, URI, 1)
    assert parsed.address == EVM_KEY.address  # stored and signed in EIP-55 form
    assert parsed.statement == "Link this wallet to Telegram member 101 (@alice) on Townsquare."
    assert parsed.issued_at_dt == T0 and parsed.expiration_time_dt == T0 + timedelta(minutes=10)
    assert issued.nonce == parsed.nonce and len(issued.nonce) == linking.NONCE_LENGTH
    link = await verify(
        run,
        token,
        EVM_KEY.address.lower(),
        issued.message,
        evm_sign(issued.message),
        now=T0 + timedelta(minutes=9),
    )
    assert (link.member_id, link.address, link.is_primary, link.chain_id) == (
        ALICE,
        EVM_KEY.address,
        True,
        "1",
    )
    assert link.message == issued.message
    state = await snapshot(sessions)
    assert state["nonces"] == [issued.nonce] and len(state["tokens"]) == 1
    events = await run(linking.audit_events)
    assert [(e.event, e.member_id, e.address, e.link_id) for e in events] == [
        ("link", ALICE, EVM_KEY.address, link.id)
    ]


async def test_solana_wallet_links_by_signature(run: Run) -> None:
    token = await run(linking.issue_token, member_id=BOB, family="solana", now=T0)
    issued = await challenge(run, token, "solana", SOL_ADDRESS)
    parsed = siws.parse(issued.message)
    assert (parsed.domain, parsed.chain_id, parsed.address) == (DOMAIN, "mainnet", SOL_ADDRESS)
    link = await verify(run, token, SOL_ADDRESS, issued.message, sol_sign(issued.message))
    assert (link.member_id, link.chain_family, link.is_primary) == (BOB, "solana", True)
    links = await run(linking.active_links, member_id=BOB)
    assert [item.address for item in links] == [SOL_ADDRESS]


async def test_statement_names_the_group_only_when_given(run: Run) -> None:
    token = await run(linking.issue_token, member_id=ALICE, family="evm", chat_id=-100777, now=T0)
    issued = await challenge(run, token, "evm", EVM_KEY.address)
    assert "Telegram member 101 (@alice) from group -100777 on Townsquare." in issued.message


# --- bad input: each refusal names its error and changes nothing -------------------------------


def _swap_nonce(text: str) -> str:
    nonce = lm.nonce_of(text)
    assert nonce
    return text.replace(f"Nonce: {nonce}", "Nonce: " + "Z" * len(nonce))


EVM_CASES: list[tuple[str, Callable[[str], dict[str, Any]], type[Exception]]] = [
    ("wrong domain", lambda m: {"domain": "evil.example"}, DomainMismatch),
    (
        "unknown nonce",
        lambda m: {"message": _swap_nonce(m), "signature": evm_sign(_swap_nonce(m))},
        linking.NonceUnknown,
    ),
    ("expired", lambda m: {"now": T0 + timedelta(minutes=10, seconds=1)}, Expired),
    ("future", lambda m: {"now": T0 - timedelta(seconds=30)}, NotYetValid),
    ("another key", lambda m: {"signature": evm_sign(m, EVM_OTHER)}, InvalidSignature),
    ("truncated", lambda m: {"signature": evm_sign(m)[:-2]}, InvalidSignature),
    ("truncated odd", lambda m: {"signature": evm_sign(m)[:-1]}, InvalidSignature),
    ("non-hex", lambda m: {"signature": "0x" + "zz" * 65}, InvalidSignature),
    (
        "altered message",
        lambda m: {
            "message": m.replace("Townsquare.", "Townsquare!"),
            "signature": evm_sign(m.replace("Townsquare.", "Townsquare!")),
        },
        linking.MessageAltered,
    ),
    ("other address", lambda m: {"address": EVM_OTHER.address}, AddressMismatch),
    (
        "bad EIP-55",
        lambda m: {"address": EVM_KEY.address.swapcase().replace("0X", "0x")},
        InvalidAddress,
    ),
    ("other family", lambda m: {"family": "solana"}, linking.WrongFamily),
]


@pytest.mark.parametrize(("case", "change", "error"), EVM_CASES, ids=[c[0] for c in EVM_CASES])
async def test_bad_evm_input_is_refused_and_changes_nothing(
    run: Run,
    sessions: Any,
    case: str,
    change: Callable[[str], dict[str, Any]],
    error: type[Exception],
) -> None:
    token = await run(linking.issue_token, member_id=ALICE, family="evm", now=T0)
    issued = await challenge(run, token, "evm", EVM_KEY.address)
    request: dict[str, Any] = {
        "family": "evm",
        "address": EVM_KEY.address,
        "message": issued.message,
        "signature": evm_sign(issued.message),
        "now": T0 + timedelta(minutes=1),
    }
    request.update(change(issued.message))
    before = await snapshot(sessions)
    with pytest.raises(error) as raised:
        await run(linking.verify_link, token=token, domain=request.pop("domain", DOMAIN), **request)
    assert raised.value.code  # type: ignore[attr-defined]
    assert await snapshot(sessions) == before
    # The genuine request still works afterwards: a refusal consumed nothing.
    await verify(
        run,
        token,
        EVM_KEY.address,
        issued.message,
        evm_sign(issued.message),
        now=T0 + timedelta(minutes=1),
    )


SOL_CASES: list[tuple[str, Callable[[str], dict[str, Any]], type[Exception]]] = [
    ("wrong domain", lambda m: {"domain": "evil.example"}, DomainMismatch),
    ("expired", lambda m: {"now": T0 + timedelta(minutes=10, seconds=1)}, Expired),
    ("future", lambda m: {"now": T0 - timedelta(minutes=2)}, NotYetValid),
    ("another key", lambda m: {"signature": sol_sign(m, SOL_OTHER)}, InvalidSignature),
    ("different message", lambda m: {"signature": sol_sign(m + " ")}, InvalidSignature),
    ("truncated", lambda m: {"signature": sol_sign(m)[:-2]}, InvalidSignature),
    ("non-hex", lambda m: {"signature": "0x" + "zz" * 64}, InvalidSignature),
    ("other address", lambda m: {"address": SOL_OTHER_ADDRESS}, AddressMismatch),
    (
        "altered message",
        lambda m: {"message": m + "\nRequest ID: 1", "signature": sol_sign(m + "\nRequest ID: 1")},
        linking.MessageAltered,
    ),
]


@pytest.mark.parametrize(("case", "change", "error"), SOL_CASES, ids=[c[0] for c in SOL_CASES])
async def test_bad_solana_input_is_refused_and_changes_nothing(
    run: Run,
    sessions: Any,
    case: str,
    change: Callable[[str], dict[str, Any]],
    error: type[Exception],
) -> None:
    token = await run(linking.issue_token, member_id=ALICE, family="solana", now=T0)
    issued = await challenge(run, token, "solana", SOL_ADDRESS)
    request: dict[str, Any] = {
        "family": "solana",
        "address": SOL_ADDRESS,
        "message": issued.message,
        "signature": sol_sign(issued.message),
        "now": T0 + timedelta(minutes=1),
    }
    request.update(change(issued.message))
    before = await snapshot(sessions)
    with pytest.raises(error):
        await run(linking.verify_link, token=token, domain=request.pop("domain", DOMAIN), **request)
    assert await snapshot(sessions) == before


async def test_concurrent_submissions_of_one_signature_link_once(
    run: Run, sessions: async_sessionmaker[AsyncSession]
) -> None:
    token = await run(linking.issue_token, member_id=ALICE, family="evm", now=T0)
    issued = await challenge(run, token, "evm", EVM_KEY.address)
    signature = evm_sign(issued.message)

    async def submit() -> WalletLink:
        async with transaction(sessions) as session:
            link = await linking.verify_link(
                session=session,
                token=token,
                family="evm",
                address=EVM_KEY.address,
                message=issued.message,
                signature=signature,
                domain=DOMAIN,
                now=T0,
            )
            await asyncio.sleep(0.05)  # hold the transaction open while the other one runs
            return link

    results = await asyncio.gather(submit(), submit(), return_exceptions=True)
    linked = [r for r in results if isinstance(r, WalletLink)]
    assert len(linked) == 1, results
    # The loser is refused one way or another: nonce used, unique index, or a busy SQLite.
    assert all(isinstance(r, Exception) for r in results if r not in linked)
    assert len(await run(linking.active_links, member_id=ALICE)) == 1
    assert [e.event for e in await run(linking.audit_events)] == ["link"]


async def test_replayed_signature_fails(run: Run, sessions: Any) -> None:
    token = await run(linking.issue_token, member_id=ALICE, family="evm", now=T0)
    issued = await challenge(run, token, "evm", EVM_KEY.address)
    signature = evm_sign(issued.message)
    await verify(run, token, EVM_KEY.address, issued.message, signature)
    before = await snapshot(sessions)
    with pytest.raises(linking.NonceUsed):
        await verify(run, token, EVM_KEY.address, issued.message, signature)
    # Even after the wallet is unlinked, the old signature cannot link it again.
    links = await run(linking.active_links, member_id=ALICE)
    await run(linking.unlink, member_id=ALICE, link_id=links[0].id, now=T0)
    with pytest.raises(linking.NonceUsed):
        await verify(run, token, EVM_KEY.address, issued.message, signature)
    assert (await snapshot(sessions))["nonces"] == before["nonces"]


async def test_mixed_case_address_failing_eip55_gets_no_challenge(run: Run, sessions: Any) -> None:
    token = await run(linking.issue_token, member_id=ALICE, family="evm", now=T0)
    bad = "0x" + EVM_KEY.address[2:].swapcase()
    with pytest.raises(InvalidAddress):
        await challenge(run, token, "evm", bad)
    with pytest.raises(InvalidAddress):
        await challenge(run, token, "evm", "0x1234")
    async with sessions() as session:
        assert (await session.exec(select(func.count()).select_from(WalletChallenge))).one() == 0


async def test_token_expired_reused_unknown_or_another_members(run: Run) -> None:
    token = await run(linking.issue_token, member_id=ALICE, family="evm", now=T0)
    with pytest.raises(linking.TokenExpired):
        await challenge(run, token, "evm", EVM_KEY.address, now=T0 + timedelta(minutes=15))
    with pytest.raises(linking.TokenUnknown):
        await challenge(
            run, token[:-1] + ("A" if token[-1] != "A" else "B"), "evm", EVM_KEY.address
        )
    with pytest.raises(linking.TokenNotYours):
        await run(linking.open_token, token=token, member_id=BOB, now=T0)
    # A challenge issued before the token expired cannot be completed after it.
    issued = await challenge(run, token, "evm", EVM_KEY.address, now=T0 + timedelta(minutes=14))
    with pytest.raises(linking.TokenExpired):
        await verify(
            run,
            token,
            EVM_KEY.address,
            issued.message,
            evm_sign(issued.message),
            now=T0 + timedelta(minutes=15, seconds=1),
        )
    with pytest.raises(linking.TokenNotYours):
        await verify(
            run,
            token,
            EVM_KEY.address,
            issued.message,
            evm_sign(issued.message),
            now=T0 + timedelta(minutes=14),
            member_id=BOB,
        )
    await verify(
        run,
        token,
        EVM_KEY.address,
        issued.message,
        evm_sign(issued.message),
        now=T0 + timedelta(minutes=14),
    )
    with pytest.raises(linking.TokenUsed):
        await challenge(run, token, "evm", EVM_OTHER.address, now=T0 + timedelta(minutes=14))


async def test_a_nonce_only_works_with_the_token_it_was_issued_for(run: Run) -> None:
    alice_token = await run(linking.issue_token, member_id=ALICE, family="evm", now=T0)
    bob_token = await run(linking.issue_token, member_id=BOB, family="evm", now=T0)
    issued = await challenge(run, alice_token, "evm", EVM_KEY.address)
    with pytest.raises(linking.NonceUnknown):
        await verify(run, bob_token, EVM_KEY.address, issued.message, evm_sign(issued.message))


async def test_a_token_issues_a_bounded_number_of_challenges(run: Run, sessions: Any) -> None:
    token = await run(linking.issue_token, member_id=ALICE, family="evm", now=T0)
    for _ in range(linking.MAX_CHALLENGES_PER_TOKEN):
        await challenge(run, token, "evm", EVM_KEY.address)
    with pytest.raises(linking.TooManyChallenges):
        await challenge(run, token, "evm", EVM_KEY.address)
    issued = await snapshot(sessions)
    assert issued["nonces"] == []


async def test_second_challenge_of_a_used_token_is_refused(run: Run) -> None:
    token = await run(linking.issue_token, member_id=ALICE, family="evm", now=T0)
    first = await challenge(run, token, "evm", EVM_KEY.address)
    second = await challenge(run, token, "evm", EVM_OTHER.address)
    await verify(run, token, EVM_KEY.address, first.message, evm_sign(first.message))
    with pytest.raises(linking.TokenUsed):
        await verify(
            run,
            token,
            EVM_OTHER.address,
            second.message,
            evm_sign(second.message, EVM_OTHER),
        )


# --- policy: one owner per wallet, one primary per family, an audit row for everything ---------


async def test_a_member_links_several_wallets_with_one_primary_per_family(run: Run) -> None:
    first = await link_evm(run, ALICE)
    second = await link_evm(run, ALICE, EVM_OTHER)
    solana = await link_sol(run, ALICE)
    assert (first.is_primary, second.is_primary, solana.is_primary) == (True, False, True)
    await run(linking.make_primary, member_id=ALICE, link_id=second.id)
    links = {item.id: item.is_primary for item in await run(linking.active_links, member_id=ALICE)}
    assert links == {first.id: False, second.id: True, solana.id: True}
    await run(linking.unlink, member_id=ALICE, link_id=second.id)
    links = {item.id: item.is_primary for item in await run(linking.active_links, member_id=ALICE)}
    assert links == {first.id: True, solana.id: True}  # the other EVM wallet took over
    events = [(e.event, e.link_id) for e in await run(linking.audit_events, member_id=ALICE)]
    assert events == [
        ("link", first.id),
        ("link", second.id),
        ("link", solana.id),
        ("primary", second.id),
        ("unlink", second.id),
        ("primary", first.id),
    ]


async def test_only_the_owner_can_unlink_or_promote(run: Run) -> None:
    link = await link_evm(run, ALICE)
    with pytest.raises(linking.LinkNotFound):
        await run(linking.unlink, member_id=BOB, link_id=link.id)
    with pytest.raises(linking.LinkNotFound):
        await run(linking.make_primary, member_id=BOB, link_id=link.id)
    await run(linking.unlink, member_id=ALICE, link_id=link.id)
    with pytest.raises(linking.LinkNotFound):
        await run(linking.unlink, member_id=ALICE, link_id=link.id)


async def test_taking_another_members_wallet_fails_and_is_a_sybil_signal(
    run: Run, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await link_evm(run, ALICE)
    token = await run(linking.issue_token, member_id=BOB, family="evm", now=T0)
    issued = await challenge(run, token, "evm", EVM_KEY.address)
    # As the web route does: the refusal is raised, and the conflict row is committed.
    async with sessions() as session:
        with pytest.raises(linking.WalletTaken, match="another member"):
            await linking.verify_link(
                session=session,
                token=token,
                family="evm",
                address=EVM_KEY.address,
                message=issued.message,
                signature=evm_sign(issued.message),
                domain=DOMAIN,
                now=T0,
            )
        await session.commit()
    conflicts = await run(linking.audit_events, event="conflict")
    assert [(c.member_id, c.other_member_id, c.address) for c in conflicts] == [
        (BOB, ALICE, EVM_KEY.address)
    ]
    assert await run(linking.active_links, member_id=BOB) == []
    assert [w.address for w in await run(linking.active_links, member_id=ALICE)] == [
        EVM_KEY.address
    ]


async def test_a_conflict_needs_a_valid_signature(run: Run) -> None:
    """Without proof of control, naming someone's wallet is no sybil signal (else anyone could
    fabricate them)."""
    await link_evm(run, ALICE)
    token = await run(linking.issue_token, member_id=BOB, family="evm", now=T0)
    issued = await challenge(run, token, "evm", EVM_KEY.address)
    with pytest.raises(InvalidSignature):
        await verify(
            run, token, EVM_KEY.address, issued.message, evm_sign(issued.message, EVM_OTHER)
        )
    assert await run(linking.audit_events, event="conflict") == []


async def test_unlinked_wallet_can_be_linked_by_another_member(run: Run) -> None:
    link = await link_sol(run, ALICE)
    await run(linking.unlink, member_id=ALICE, link_id=link.id)
    relinked = await link_sol(run, BOB)
    assert (relinked.member_id, relinked.is_primary) == (BOB, True)
    with pytest.raises(linking.AlreadyLinked):
        await link_sol(run, BOB)


async def test_the_database_holds_the_policy_under_races(
    run: Run, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The partial unique indexes refuse a second active owner or a second active primary."""
    await link_evm(run, ALICE)
    duplicate = {
        "chain_family": "evm",
        "address": EVM_KEY.address,
        "chain_id": "1",
        "message": "m",
        "signature": "s",
        "linked_at": T0,
    }
    with pytest.raises(IntegrityError):
        async with transaction(sessions) as session:
            session.add(WalletLink(member_id=BOB, is_primary=True, **duplicate))
    with pytest.raises(IntegrityError):
        async with transaction(sessions) as session:
            session.add(
                WalletLink(
                    member_id=ALICE, is_primary=True, **{**duplicate, "address": EVM_OTHER.address}
                )
            )
    async with transaction(sessions) as session:  # an unlinked row does not count
        session.add(WalletLink(member_id=BOB, unlinked_at=T0, **duplicate))


async def test_purge_drops_long_expired_tokens_and_their_challenges(
    run: Run, sessions: async_sessionmaker[AsyncSession]
) -> None:
    old = await run(linking.issue_token, member_id=ALICE, family="evm", now=T0)
    await challenge(run, old, "evm", EVM_KEY.address)
    await run(linking.issue_token, member_id=ALICE, family="evm", now=T0 + timedelta(days=2))
    async with sessions() as session:
        assert (await session.exec(select(func.count()).select_from(WalletLinkToken))).one() == 1
        assert (await session.exec(select(func.count()).select_from(WalletChallenge))).one() == 0
    with pytest.raises(linking.TokenUnknown):
        await run(linking.open_token, token=old, now=T0 + timedelta(days=2))


# --- EIP-1271 contract wallets on anvil ----------------------------------------------------------


@pytest.mark.chain
async def test_contract_wallet_links_through_eip1271_and_a_stranger_is_refused(
    run: Run, sessions: Any, anvil: Anvil, w3: AsyncWeb3
) -> None:
    owner, stranger = anvil.accounts[5], anvil.accounts[6]
    wallet = await deploy_contract(
        w3, "DemoContractWallet", (owner.address,), deployer_key=anvil.accounts[0]
    )
    policy = lm.LinkPolicy(evm_chain_id=anvil.chain_id)
    token = await run(linking.issue_token, member_id=ALICE, family="evm", now=T0)
    issued = await run(
        linking.issue_challenge,
        token=token,
        family="evm",
        address=wallet,
        domain=DOMAIN,
        uri=URI,
        policy=policy,
        now=T0,
    )
    before = await snapshot(sessions)
    # The contract answers 0xffffffff, not the magic value, for a non-owner's signature.
    with pytest.raises(InvalidSignature, match="EIP-1271"):
        await verify(
            run,
            token,
            wallet,
            issued.message,
            evm_sign(issued.message, stranger),
            policy=policy,
            w3=w3,
        )
    assert await snapshot(sessions) == before
    link = await verify(
        run,
        token,
        wallet,
        issued.message,
        evm_sign(issued.message, owner),
        policy=policy,
        w3=w3,
    )
    assert (link.address, link.chain_id) == (wallet, str(anvil.chain_id))


# --- pure message building ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "short"),
    [
        ("0xAbC0000000000000000000000000000000000123", "0xAbC…123"),
        ("7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU", "7xKX…gAsU"),
        ("short", "short"),
    ],
)
def test_short_address(address: str, short: str) -> None:
    assert lm.short_address(address) == short


@pytest.mark.parametrize(
    ("family", "address", "expected"),
    [
        ("evm", EVM_KEY.address.lower(), EVM_KEY.address),
        ("evm", "0x" + EVM_KEY.address[2:].upper(), EVM_KEY.address),
        ("evm", EVM_KEY.address, EVM_KEY.address),
        ("solana", SOL_ADDRESS, SOL_ADDRESS),
    ],
)
def test_normalize_address(family: str, address: str, expected: str) -> None:
    assert lm.normalize_address(family, address) == expected


@pytest.mark.parametrize(
    ("family", "address"),
    [
        ("evm", "0x" + EVM_KEY.address[2:].swapcase()),
        ("evm", EVM_KEY.address[2:]),
        ("evm", SOL_ADDRESS),
        ("solana", EVM_KEY.address),
        ("solana", SOL_ADDRESS[:-3]),
    ],
)
def test_normalize_address_refuses(family: str, address: str) -> None:
    with pytest.raises(InvalidAddress):
        lm.normalize_address(family, address)


@given(
    member_id=st.integers(min_value=1, max_value=2**63 - 1),
    username=st.one_of(st.none(), st.text(max_size=40)),
    chat_id=st.one_of(st.none(), st.integers(min_value=-(2**63), max_value=2**63 - 1)),
    family=st.sampled_from(lm.FAMILIES),
)
def test_any_member_gives_a_message_that_parses_back(
    member_id: int, username: str | None, chat_id: int | None, family: str
) -> None:
    """Whatever the username holds (quotes, %, <, >, non-ASCII), the message stays valid."""
    statement = lm.link_statement(member_id=member_id, username=username, chat_id=chat_id)
    address = EVM_KEY.address if family == "evm" else SOL_ADDRESS
    text = lm.build_message(
        family=family,
        address=address,
        statement=statement,
        domain=DOMAIN,
        uri=URI,
        policy=lm.LinkPolicy(),
        nonce="abcdefgh12345678",
        issued_at=T0,
    )
    parsed = siwe.parse(text) if family == "evm" else siws.parse(text)
    assert parsed.statement == statement and str(member_id) in statement
    assert lm.nonce_of(text) == "abcdefgh12345678"
    if username is not None and f"@{username})" in statement:
        assert username.isascii() and username.replace("_", "").isalnum()


def test_verification_errors_keep_one_tree() -> None:
    for error in (linking.NonceUnknown, linking.NonceUsed, linking.MessageAltered):
        assert issubclass(error, VerificationError)
    codes = {
        cls.code
        for cls in (
            linking.NonceUnknown,
            linking.NonceUsed,
            linking.MessageAltered,
            linking.TokenUnknown,
            linking.TokenExpired,
            linking.TokenUsed,
            linking.TokenNotYours,
            linking.WalletTaken,
            linking.AlreadyLinked,
            linking.WrongFamily,
            linking.LinkNotFound,
            linking.TooManyChallenges,
        )
    }
    assert len(codes) == 12
