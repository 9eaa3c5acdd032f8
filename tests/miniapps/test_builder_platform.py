"""The builder platform over HTTP on SQLite and PostgreSQL: apps enabled per group with a cap
on the points their events give, the wallet consent screen, the `/v1` reads, per-app rate
limits with `Retry-After`, and the one error shape of the API."""

from __future__ import annotations

import base64

import httpx
import pytest

from core.clock import utcnow
from core.db import transaction
from core.models_miniapps import MiniApp, hash_secret
from engagement import board, ledger
from miniapps import registry
from miniapps.ratelimit import MemoryLimiter
from tests.miniapps import test_miniapp_api
from tests.miniapps.test_miniapp_api import (
    ALICE,
    APP,
    BOB,
    CAROL,
    GROUP,
    HOSTILE,
    OTHER,
    SECRET,
    Env,
)

env = test_miniapp_api.env
OTHER_APP = "app_fedcba9876543210"


def basic(app_id: str = APP, secret: str = SECRET) -> str:
    return "Basic " + base64.b64encode(f"{app_id}:{secret}".encode()).decode()


async def v1(env: Env, path: str, token: str, app_id: str = APP) -> httpx.Response:
    return await env.client.get(
        path, headers={"Authorization": basic(app_id), "X-Member-Token": token}
    )


async def set_grant(env: Env, chat_id: int, cap: int | None) -> None:
    """Enables APP in the group with `cap`, or disables it (None)."""
    sessions = env.client._transport.app.state.gateway.sessions  # type: ignore[attr-defined]
    async with transaction(sessions) as session:
        if cap is None:
            await registry.disable(session=session, chat_id=chat_id, app_id=APP)
        else:
            await registry.enable(session=session, chat_id=chat_id, app_id=APP, cap=cap, by=BOB)


async def test_events_for_a_group_without_the_app_are_refused(env: Env) -> None:
    # Alice is in OTHER too, and the app may open there, but OTHER never enabled it.
    refused = await env.report(await env.app_token(ALICE, OTHER), "k1")
    assert refused.status_code == 403
    assert refused.json() == {"reason": "app_not_enabled"}
    await set_grant(env, GROUP, None)
    token = await env.app_token(ALICE, GROUP)
    assert (await env.report(token, "k2")).json() == {"reason": "app_not_enabled"}
    await set_grant(env, GROUP, 1000)
    assert (await env.report(token, "k2")).json() == {"status": "credited", "points": 7}


async def test_events_over_the_cap_are_recorded_not_credited(env: Env) -> None:
    await set_grant(env, GROUP, 15)
    token = await env.app_token(ALICE, GROUP)
    before = (await env.get("/miniapp/api/points", await env.login(ALICE, GROUP))).json()
    assert (await env.report(token, "r1")).json()["points"] == 7
    assert (await env.report(token, "r2")).json()["points"] == 7
    over = await env.report(token, "r3")
    assert over.status_code == 200
    assert over.json()["status"] == "not_credited"
    assert over.json()["reason"].startswith("over_cap")
    # Replayed, the over-cap event stays what it was; it is never credited later.
    assert (await env.report(token, "r3")).json() == over.json()
    after = (await env.get("/miniapp/api/points", await env.login(ALICE, GROUP))).json()
    assert after["points"] == before["points"] + 14
    recorded = [e for e in after["entries"] if e["cause"] == f"app:{APP}:r3"]
    assert [(e["points"], e["reason"][:8]) for e in recorded] == [(0, "over_cap")]
    # Another member has their own budget under the same cap.
    assert (await env.report(await env.app_token(BOB, GROUP), "b1")).json()["points"] == 7


async def test_a_raised_cap_credits_new_events(env: Env) -> None:
    await set_grant(env, GROUP, 7)
    token = await env.app_token(ALICE, GROUP)
    assert (await env.report(token, "a")).json()["status"] == "credited"
    assert (await env.report(token, "b")).json()["status"] == "not_credited"
    await set_grant(env, GROUP, 14)
    assert (await env.report(token, "c")).json()["status"] == "credited"


async def test_wallets_need_the_members_consent_which_is_revocable(env: Env) -> None:
    token = await env.app_token(ALICE, GROUP)
    refused = await v1(env, "/v1/wallets", token)
    assert refused.status_code == 403
    assert refused.json() == {"reason": "consent_required"}
    member = await env.login(ALICE, GROUP)
    screen = await env.client.get(f"/miniapp/api/consents/{APP}", headers=member)
    assert screen.json()["granted"] is False and screen.json()["app"]["name"] == "Quiz"
    granted = await env.client.put(f"/miniapp/api/consents/{APP}", headers=member)
    assert granted.status_code == 200 and granted.json()["granted"] is True
    wallets = (await v1(env, "/v1/wallets", token)).json()["wallets"]
    assert [w["address"] for w in wallets] == ["0x" + "ab" * 20]
    listed = (await env.client.get("/miniapp/api/consents", headers=member)).json()
    assert [(c["app_id"], c["scope"]) for c in listed["consents"]] == [(APP, "wallets:read")]
    revoked = await env.client.delete(f"/miniapp/api/consents/{APP}", headers=member)
    assert revoked.json()["granted"] is False
    assert (await v1(env, "/v1/wallets", token)).json() == {"reason": "consent_required"}
    # Bob's consent is his own: Alice's grant never opened Bob's wallets, nor the reverse.
    await env.client.put(f"/miniapp/api/consents/{APP}", headers=await env.login(BOB))
    assert (await v1(env, "/v1/wallets", token)).status_code == 403


async def test_an_app_cannot_grant_itself_consent(env: Env) -> None:
    app_token = await env.app_token(ALICE, GROUP)
    forged = await env.client.put(
        f"/miniapp/api/consents/{APP}", headers={"Authorization": f"Bearer {app_token}"}
    )
    assert forged.status_code == 401
    assert forged.json() == {"reason": "wrong_audience"}
    unknown = await env.client.put("/miniapp/api/consents/app_nope", headers=await env.login(ALICE))
    assert unknown.status_code == 404 and unknown.json() == {"reason": "unknown_app"}


async def test_profile_and_points_for_the_app(env: Env) -> None:
    token = await env.app_token(ALICE, GROUP)
    me = (await v1(env, "/v1/me", token)).json()
    assert (me["id"], me["first_name"], me["chat"]["id"]) == (ALICE, HOSTILE, GROUP)
    await env.report(token, "p1")
    points = (await v1(env, "/v1/points", token)).json()
    assert points["points"] == 9 + 7
    assert {"rule": "app:quiz", "points": 7, "entries": 1} in points["by_rule"]
    # Carol is not in GROUP, and a token of the app for another group reads only that group.
    other = await env.app_token(CAROL, OTHER)
    assert (await v1(env, "/v1/points", other)).json() == {"reason": "app_not_enabled"}


@pytest.mark.parametrize(
    ("headers", "status", "reason"),
    [
        ({}, 401, "bad_app_credentials"),
        ({"Authorization": "Basic !!!"}, 401, "bad_app_credentials"),
        ({"Authorization": basic(APP, "wrong")}, 401, "bad_app_credentials"),
        ({"Authorization": basic()}, 422, "invalid_request"),
        ({"Authorization": basic(), "X-Member-Token": "junk"}, 403, "member_token_malformed"),
    ],
)
async def test_v1_reads_need_app_credentials_and_its_member_token(
    env: Env, headers: dict[str, str], status: int, reason: str
) -> None:
    for path in ("/v1/me", "/v1/points", "/v1/wallets"):
        answer = await env.client.get(path, headers=headers)
        assert answer.status_code == status, (path, answer.text)
        assert answer.json()["reason"] == reason


async def test_a_token_for_another_app_is_refused(env: Env) -> None:
    sessions = env.client._transport.app.state.gateway.sessions  # type: ignore[attr-defined]
    async with transaction(sessions) as session:
        session.add(
            MiniApp(id=OTHER_APP, name="Other", owner_id=BOB, secret_hash=hash_secret(SECRET))
        )
    token = await env.app_token(ALICE, GROUP)
    answer = await v1(env, "/v1/me", token, app_id=OTHER_APP)
    assert answer.status_code == 403
    assert answer.json() == {"reason": "member_token_wrong_audience"}


async def test_calls_over_the_apps_rate_get_429_with_retry_after(env: Env) -> None:
    sessions = env.client._transport.app.state.gateway.sessions  # type: ignore[attr-defined]
    async with transaction(sessions) as session:
        session.add(
            MiniApp(id=OTHER_APP, name="Other", owner_id=BOB, secret_hash=hash_secret(SECRET))
        )
    state = env.client._transport.app.state  # type: ignore[attr-defined]
    state.builder_limiter = MemoryLimiter(rate=0.01, burst=2)
    token = await env.app_token(ALICE, GROUP)
    assert [(await v1(env, "/v1/me", token)).status_code for _ in range(2)] == [200, 200]
    limited = await v1(env, "/v1/me", token)
    assert limited.status_code == 429
    assert limited.json() == {"reason": "rate_limited"}
    assert 1 <= int(limited.headers["retry-after"]) <= 100
    # Events count against the same budget; another app has its own.
    assert (await env.report(token, "k")).status_code == 429
    other = await v1(env, "/v1/me", await env.app_token(ALICE, GROUP, OTHER_APP), OTHER_APP)
    assert other.status_code == 200
    # Wrong secrets are refused before they can spend the app's budget.
    state.builder_limiter = MemoryLimiter(rate=0.01, burst=1)
    for _ in range(3):
        assert (await env.report(token, "k", auth=(APP, "wrong"))).status_code == 401
    assert (await v1(env, "/v1/me", token)).status_code == 200


async def test_points_breakdown_in_sql_matches_the_ledgers_final_decisions(env: Env) -> None:
    sessions = env.client._transport.app.state.gateway.sessions  # type: ignore[attr-defined]
    now = utcnow()
    corrections = [
        # (cause, revision, rule, points): msg:10 earned then was judged a duplicate; msg:11
        # was too short then re-judged; msg:12 and msg:13 never earned.
        ("msg:10", 0, "message", 5),
        ("msg:10", 1, "duplicate", -5),
        ("msg:11", 0, "too_short", 0),
        ("msg:11", 1, "message", 5),
        ("msg:12", 0, "too_short", 0),
        ("msg:13", 0, "duplicate", 0),
    ]
    async with transaction(sessions) as session:
        await ledger.append(
            session=session,
            entries=[
                ledger.Entry(
                    chat_id=GROUP,
                    epoch_id=env.epoch_id,
                    member_id=ALICE,
                    kind="message",
                    rule=rule,
                    points=points,
                    rules_version=1,
                    cause=cause,
                    revision=revision,
                    occurred_at=now,
                )  # fmt: skip
                for cause, revision, rule, points in corrections
            ],
        )
    body = (await env.get("/miniapp/api/points", await env.login(ALICE, GROUP))).json()
    async with sessions() as session:
        expected = await board.breakdown(session=session, epoch_id=env.epoch_id, member_id=ALICE)
    assert body["counted_messages"] == expected.counted_messages
    assert body["not_counted"] == expected.not_counted
    assert (expected.not_counted["duplicate"], expected.not_counted["too_short"]) == (2, 1)
    assert body["by_kind"] == expected.by_kind


async def test_the_catalogue_hands_an_app_a_token_for_this_group_only(env: Env) -> None:
    member = await env.login(ALICE, GROUP)
    listed = (await env.get("/miniapp/api/apps", member)).json()["apps"]
    assert [a["id"] for a in listed] == [APP]
    given = await env.client.post(f"/miniapp/api/apps/{APP}/token", headers=member)
    assert given.status_code == 200, given.text
    token = given.json()["token"]
    assert (await v1(env, "/v1/me", token)).json()["chat"]["id"] == GROUP
    assert (await env.report(token, "handed")).json()["status"] == "credited"
    # Not enabled in OTHER; a group session cannot ask for another group; the app token is
    # not a gateway session.
    other = await env.client.post(
        f"/miniapp/api/apps/{APP}/token", headers=await env.login(ALICE, OTHER)
    )
    assert other.json() == {"reason": "app_not_enabled"}
    wrong = await env.client.post(
        f"/miniapp/api/apps/{APP}/token", headers=member, params={"chat_id": OTHER}
    )
    assert wrong.json() == {"reason": "wrong_chat"}
    forged = await env.client.post(
        f"/miniapp/api/apps/{APP}/token", headers={"Authorization": f"Bearer {token}"}
    )
    assert forged.status_code == 401
