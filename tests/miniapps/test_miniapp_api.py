"""The members' Mini App API and pages on SQLite and PostgreSQL: points with their breakdown
and ledger entries, the leaderboard, wallets, group binding of tokens, membership checks,
escaping of hostile names, and the pages' security headers."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from core import repo
from core.clock import utcnow
from core.db import create_engine, session_factory, transaction
from core.migrate import upgrade
from core.models_miniapps import MiniApp, hash_secret
from core.models_wallet import WalletLink
from core.settings import Settings
from engagement import epochs, ledger, rules
from miniapps.api import ENTRY_LIMIT, create_api_router
from miniapps.app_launch import create_launch_router
from miniapps.consent import create_consent_router
from miniapps.deps import create_session_router, start_param_for
from miniapps.errors import install_error_handlers
from miniapps.initdata_sign import sign_init_data
from miniapps.member import create_member_router
from miniapps.registry import enable
from miniapps.v1 import create_builder_router

TOKEN = "4242:our-bot-token-for-tests"
GROUP, OTHER = -1001, -1002
ALICE, BOB, CAROL, DAVE = 11, 12, 13, 14
HOSTILE = '<script>alert("x")</script>'
MEMBERS = {ALICE: HOSTILE, BOB: "Bob", CAROL: "Carol", DAVE: "Dave"}
# (chat, member, status)
MEMBERSHIPS = [
    (GROUP, ALICE, "member"),
    (GROUP, BOB, "member"),
    (OTHER, CAROL, "member"),
    (OTHER, ALICE, "member"),
    (GROUP, DAVE, "left"),
]
# (member, cause, rule, points)
ENTRIES = [
    (ALICE, "msg:1", "message", 5),
    (ALICE, "msg:2", "message", 5),
    (ALICE, "reaction:1:12", "reaction", 2),
    (ALICE, "manual:9", "penalty", -3),
    (BOB, "msg:3", "message", 20),
    (DAVE, "msg:4", "message", 1),
]


APP, SECRET = "app_0123456789abcdef", "s3cret-" + "x" * 36
REVOKED = "app_revoked000000"


class Env:
    def __init__(self, client: httpx.AsyncClient, epoch_id: int) -> None:
        self.client = client
        self.epoch_id = epoch_id

    async def session(
        self, member_id: int, chat_id: int | None = None, app_id: str | None = None
    ) -> httpx.Response:
        fields: dict[str, Any] = {"user": {"id": member_id, "first_name": MEMBERS[member_id]}}
        if chat_id is not None:
            fields["start_param"] = start_param_for(chat_id)
        body: dict[str, Any] = {"init_data": sign_init_data(fields, bot_token=TOKEN)}
        if app_id is not None:
            body["app_id"] = app_id
        return await self.client.post("/miniapp/session", json=body)

    async def login(self, member_id: int, chat_id: int | None = None) -> dict[str, str]:
        answer = await self.session(member_id, chat_id)
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['token']}"}

    async def app_token(self, member_id: int, chat_id: int | None, app_id: str = APP) -> str:
        answer = await self.session(member_id, chat_id, app_id)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["token"])

    async def report(
        self, token: str, key: str, event: str = "quiz", auth: tuple[str, str] = (APP, SECRET)
    ) -> httpx.Response:
        basic = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        return await self.client.post(
            "/v1/events",
            json={"member_token": token, "event": event},
            headers={"Authorization": f"Basic {basic}", "Idempotency-Key": key},
        )

    async def get(self, path: str, headers: dict[str, str], **params: Any) -> httpx.Response:
        return await self.client.get(path, headers=headers, params=params)


async def seed(sessions: Any) -> int:
    now = utcnow()
    async with transaction(sessions) as session:
        for member_id, name in MEMBERS.items():
            await repo.upsert_member(
                session=session,
                id=member_id,
                username=None,
                first_name=name,
                last_name=None,
                language_code="en",
                is_bot=False,
            )
        for chat_id, title in ((GROUP, "Main <b>square</b>"), (OTHER, "Other")):
            await repo.upsert_chat(
                session=session, id=chat_id, type="supergroup", title=title, username=None
            )
            await epochs.ensure_setup(session=session, chat_id=chat_id)
        for chat_id, member_id, status in MEMBERSHIPS:
            await repo.set_membership_status(
                session=session, chat_id=chat_id, member_id=member_id, status=status
            )
        epoch = await epochs.current(session=session, chat_id=GROUP)
        assert epoch is not None and epoch.id is not None
        await ledger.append(
            session=session,
            entries=[
                ledger.Entry(
                    chat_id=GROUP,
                    epoch_id=epoch.id,
                    member_id=member,
                    kind="message",
                    rule=rule,
                    points=points,
                    rules_version=1,
                    cause=cause,
                    occurred_at=now - timedelta(minutes=len(cause)),
                )
                for member, cause, rule, points in ENTRIES
            ],
        )
        current = (await rules.current(session=session, chat_id=GROUP))[1]
        with_events = current.model_copy(update={"app_events": {"quiz": 7}})
        await rules.set_rules(session=session, chat_id=GROUP, rules=with_events, by=None)
        for app_id, revoked in ((APP, None), (REVOKED, now)):
            session.add(
                MiniApp(
                    id=app_id,
                    name="Quiz",
                    owner_id=BOB,
                    revoked_at=revoked,
                    secret_hash=hash_secret(SECRET),
                )
            )
        await session.flush()
        await enable(session=session, chat_id=GROUP, app_id=APP, cap=1000, by=BOB)
        session.add(
            WalletLink(
                chain_family="evm",
                address="0x" + "ab" * 20,
                chain_id="1",
                is_primary=True,
                member_id=ALICE,
                message="signed text",
                signature="0x00",
            )
        )
        return epoch.id


@pytest.fixture
async def env(database_url: str, tmp_path: Path) -> AsyncIterator[Env]:
    await asyncio.to_thread(upgrade, database_url)
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    epoch_id = await seed(sessions)
    app = FastAPI()
    settings = Settings(mode="sandbox", data_dir=tmp_path, bot_token=TOKEN)
    app.state.gateway = SimpleNamespace(settings=settings, sessions=sessions)
    install_error_handlers(app)
    routers = (create_session_router(), create_api_router(), create_builder_router())
    for router in (
        *routers,
        create_member_router(),
        create_consent_router(),
        create_launch_router(),
    ):
        app.include_router(router)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://town.example") as client:
        yield Env(client, epoch_id)
    await engine.dispose()


async def test_points_with_breakdown_and_entries(env: Env) -> None:
    body = (await env.get("/miniapp/api/points", await env.login(ALICE, GROUP))).json()
    assert body["chat"] == {"id": GROUP, "title": "Main <b>square</b>"}
    assert body["epoch"]["id"] == env.epoch_id
    assert (body["points"], body["rank"]) == (9, 2)
    assert body["by_rule"] == [
        {"rule": "message", "points": 10, "entries": 2},
        {"rule": "reaction", "points": 2, "entries": 1},
        {"rule": "penalty", "points": -3, "entries": 1},
    ]
    assert sum(e["points"] for e in body["entries"]) == body["points"]
    assert {e["cause"] for e in body["entries"]} == {c for m, c, _, _ in ENTRIES if m == ALICE}


async def test_leaderboard_ranks_and_marks_me(env: Env) -> None:
    body = (await env.get("/miniapp/api/leaderboard", await env.login(BOB, GROUP))).json()
    rows = [(r["rank"], r["member_id"], r["name"], r["points"], r["me"]) for r in body["rows"]]
    assert rows[:2] == [(1, BOB, "Bob", 20, True), (2, ALICE, HOSTILE, 9, False)]


async def test_wallets_are_the_members_own(env: Env) -> None:
    mine = (await env.get("/miniapp/api/wallets", await env.login(ALICE))).json()["wallets"]
    assert [(w["family"], w["address"], w["is_primary"]) for w in mine] == [
        ("evm", "0x" + "ab" * 20, True)
    ]
    assert (await env.get("/miniapp/api/wallets", await env.login(BOB))).json() == {"wallets": []}


@pytest.mark.parametrize("member_id", [CAROL, DAVE, 99])
async def test_launch_from_a_group_needs_membership(env: Env, member_id: int) -> None:
    MEMBERS.setdefault(99, "Stranger")
    fields = {"user": {"id": member_id, "first_name": "x"}, "start_param": start_param_for(GROUP)}
    answer = await env.client.post(
        "/miniapp/session", json={"init_data": sign_init_data(fields, bot_token=TOKEN)}
    )
    assert answer.status_code == 403
    assert answer.json() == {"reason": "not_a_member"}


@pytest.mark.parametrize(
    "path", ["/miniapp/api/points", "/miniapp/api/leaderboard", "/miniapp/api/apps"]
)
async def test_group_token_cannot_read_another_group(env: Env, path: str) -> None:
    # Alice is in both groups, yet a session opened from one group stays in that group.
    answer = await env.get(path, await env.login(ALICE, OTHER), chat_id=GROUP)
    assert answer.status_code == 403
    assert answer.json() == {"reason": "wrong_chat"}


async def test_private_token_reads_only_the_members_groups(env: Env) -> None:
    carol = await env.login(CAROL)
    refused = await env.get("/miniapp/api/points", carol, chat_id=GROUP)
    assert refused.status_code == 403
    assert refused.json() == {"reason": "not_a_member"}
    alice = await env.login(ALICE)
    overview = (await env.get("/miniapp/api/points", alice)).json()
    assert overview["chat"] is None
    assert {(g["id"], g["points"]) for g in overview["groups"]} == {(GROUP, 9), (OTHER, 0)}
    picked = (await env.get("/miniapp/api/points", alice, chat_id=GROUP)).json()
    assert picked["points"] == 9


@pytest.mark.parametrize("page", ["points", "leaderboard", "wallets", "apps"])
async def test_pages_are_static_shells_with_a_strict_policy(env: Env, page: str) -> None:
    answer = await env.client.get(f"/miniapp/{page}")
    assert answer.status_code == 200
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "default-src 'none'" in policy
    assert "telegram.org" not in policy
    assert '<script src="/static/telegram-web-app.js"></script>' in answer.text
    assert HOSTILE not in answer.text and "<script>alert" not in answer.text
    sdk = await env.client.get("/static/telegram-web-app.js")
    assert sdk.status_code == 200 and "Telegram" in sdk.text
    assert (await env.client.get("/miniapp/nope")).status_code == 404
    assert (await env.client.get("/miniapp/static/../deps.py")).status_code == 404


async def test_app_events_are_credited_once_by_the_groups_rules(env: Env) -> None:
    token = await env.app_token(ALICE, GROUP)
    before = (await env.get("/miniapp/api/points", await env.login(ALICE, GROUP))).json()
    for _ in range(3):
        answer = await env.report(token, "round-1")
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"status": "credited", "points": 7}
    assert (await env.report(token, "round-2")).json()["points"] == 7
    unpriced = await env.report(token, "round-3", event="dance")
    assert unpriced.json() == {"status": "no_points", "points": 0}
    after = (await env.get("/miniapp/api/points", await env.login(ALICE, GROUP))).json()
    assert after["points"] == before["points"] + 14
    assert {"rule": "app:quiz", "points": 14, "entries": 2} in after["by_rule"]


async def test_app_event_idempotency_key_reused_for_another_member(env: Env) -> None:
    assert (await env.report(await env.app_token(ALICE, GROUP), "k")).status_code == 200
    reused = await env.report(await env.app_token(BOB, GROUP), "k")
    assert reused.status_code == 409
    assert reused.json() == {"reason": "idempotency_key_reused"}


@pytest.mark.parametrize(
    ("auth", "reason"),
    [
        ((APP, "wrong"), "bad_app_credentials"),
        (("app_unknown", SECRET), "bad_app_credentials"),
        ((REVOKED, SECRET), "app_revoked"),
    ],
)
async def test_app_events_need_the_apps_secret(
    env: Env, auth: tuple[str, str], reason: str
) -> None:
    answer = await env.report(await env.app_token(ALICE, GROUP), "k", auth=auth)
    assert answer.status_code == 401
    assert answer.json() == {"reason": reason}


async def test_app_events_need_a_group_token_for_this_app(env: Env) -> None:
    townsquare = (await env.login(ALICE, GROUP))["Authorization"].removeprefix("Bearer ")
    private = await env.app_token(ALICE, None)
    for token, reason in (
        (townsquare, "member_token_wrong_audience"),
        (private, "member_token_without_group"),
        ("junk", "member_token_malformed"),
    ):
        answer = await env.report(token, "k")
        assert answer.status_code == 403
        assert answer.json() == {"reason": reason}
    assert (await env.session(ALICE, GROUP, "app_unknown")).json() == {"reason": "unknown_app"}
    assert (await env.session(ALICE, GROUP, REVOKED)).status_code == 404
    basic = base64.b64encode(f"{APP}:{SECRET}".encode()).decode()
    missing_key = await env.client.post(
        "/v1/events",
        json={"member_token": private, "event": "a"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert missing_key.status_code == 422
    assert missing_key.json()["reason"] == "invalid_request"
    anonymous = await env.client.post("/v1/events", json={"member_token": private, "event": "a"})
    assert anonymous.json() == {"reason": "bad_app_credentials"}


async def test_entries_come_a_page_at_a_time_with_more(env: Env, database_url: str) -> None:
    # The member gets ENTRY_LIMIT * 2 + 1 more entries, some sharing a time, so pages must
    # follow (time, id) and lose or repeat none.
    now = utcnow()
    extra = ENTRY_LIMIT * 2 + 1
    engine = create_engine(database_url)
    async with transaction(session_factory(engine)) as session:
        await ledger.append(
            session=session,
            entries=[
                ledger.Entry(
                    chat_id=GROUP,
                    epoch_id=env.epoch_id,
                    member_id=ALICE,
                    kind="reaction",
                    rule="reaction",
                    points=1,
                    rules_version=1,
                    cause=f"page:{i}",
                    occurred_at=now - timedelta(seconds=i // 3),
                )  # fmt: skip
                for i in range(extra)
            ],
        )
    await engine.dispose()
    alice = await env.login(ALICE, GROUP)
    body = (await env.get("/miniapp/api/points", alice)).json()
    seen, more = [e["id"] for e in body["entries"]], body["more"]
    assert (len(seen), more) == (ENTRY_LIMIT, True)
    pages = 1
    while more:
        page = (await env.get("/miniapp/api/points/entries", alice, before=seen[-1])).json()
        seen += [e["id"] for e in page["entries"]]
        more, pages = page["more"], pages + 1
    assert pages == 3 and len(seen) == len(set(seen)) == extra + 4
    assert sum(r["entries"] for r in body["by_rule"]) == extra + 4
    # Another member's entry, or no entry, is no cursor.
    bob = await env.login(BOB, GROUP)
    for who, before in ((bob, seen[0]), (alice, 10**12), (alice, 0)):
        refused = await env.get("/miniapp/api/points/entries", who, before=before)
        assert refused.status_code in (404, 422), refused.text
    refused = await env.get("/miniapp/api/points/entries", bob, before=seen[0])
    assert refused.json()["reason"] == "no_such_entry"
