"""The managers' dashboard against the whole sandbox gateway, on SQLite and PostgreSQL: admin
rights asked of the sandbox's Bot API (`getChatMember`), forged initData, rules validation and
the preview checked against a hand computation, settling, reviews, analytics and CSV exports."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from core.settings import Settings
from engagement import epochs, rules
from miniapps.deps import start_param_for
from miniapps.initdata_sign import sign_init_data
from tests.conftest import RunningGateway, start_gateway

FORMULA_NAME = "=HYPERLINK(1)"
# Distinct, long enough to count, sent within seconds: the first earns, the rest are in the
# 60 s cooldown of the default rules.
ALICE_SAYS = [
    "Good morning everyone, the square is open again today.",
    "I have been reading the proposal and it looks sensible to me.",
    "Does anyone know when the next community call is scheduled?",
]
BOB_SAYS = "Hello all, I am new here and glad to have joined you."


class Town:
    def __init__(self, running: RunningGateway, ui: httpx.AsyncClient, api: httpx.AsyncClient):
        self.running = running
        self.ui = ui
        self.api = api
        self.group = self.alice = self.bob = 0
        self.first_message = 0

    async def call(self, method: str, path: str, **body: Any) -> Any:
        response = await self.ui.request(method, path, json=body or None)
        assert response.status_code == 200, response.text
        return response.json()

    async def say(self, who: int, text: str) -> int:
        sent = await self.call("POST", f"/chats/{self.group}/messages", from_id=who, text=text)
        await self.running.sandbox.wait_idle(10)
        return int(sent["message_id"])

    def init_data(self, user_id: int, *, chat_id: int | None = None, token: str = "") -> str:
        fields: dict[str, Any] = {"user": {"id": user_id, "first_name": "x"}}
        fields["start_param"] = start_param_for(chat_id if chat_id is not None else self.group)
        bot_token = token or self.running.settings.bot_token.get_secret_value()
        return sign_init_data(fields, bot_token=bot_token)

    async def session(self, user_id: int, **kwargs: Any) -> httpx.Response:
        return await self.api.post(
            "/miniapp/dashboard/session",
            json={"init_data": self.init_data(user_id, **kwargs)},
            headers={"Accept": "application/json"},
        )

    async def manager(self) -> dict[str, str]:
        answer = await self.session(self.alice)
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['token']}", "Accept": "application/json"}


@pytest.fixture
async def town(database_url: str, gateway_settings: Settings) -> AsyncIterator[Town]:
    settings = gateway_settings.model_copy(update={"database_url": database_url})
    running, server, task = await start_gateway(settings)
    try:
        async with (
            httpx.AsyncClient(base_url=f"{running.base_url}/sandbox/ui", timeout=15) as ui,
            httpx.AsyncClient(base_url=running.base_url, timeout=15) as api,
        ):
            town = Town(running, ui, api)
            town.alice = (await town.call("POST", "/users", first_name="Alice"))["id"]
            town.bob = (await town.call("POST", "/users", first_name=FORMULA_NAME))["id"]
            group = await town.call(
                "POST", "/chats", title="Town <i>square</i>", creator_id=town.alice, bot="admin"
            )
            town.group = group["id"]
            await town.call("POST", f"/chats/{town.group}/members", user_id=town.bob)
            town.first_message = await town.say(town.alice, ALICE_SAYS[0])
            for text in ALICE_SAYS[1:]:
                await town.say(town.alice, text)
            await town.say(town.bob, BOB_SAYS)
            await town.call(
                "POST",
                f"/chats/{town.group}/reactions",
                message_id=town.first_message,
                user_id=town.bob,
                emoji=["👍"],
            )
            await running.sandbox.wait_idle(10)
            yield town
    finally:
        server.should_exit = True
        await task


async def test_only_administrators_get_a_dashboard_session(town: Town) -> None:
    admin = await town.session(town.alice)
    assert admin.status_code == 200, admin.text
    assert admin.json()["chat"] == {"id": town.group, "title": "Town <i>square</i>"}
    member = await town.session(town.bob)
    assert (member.status_code, member.json()["reason"]) == (403, "not_admin")
    page = await town.api.post(
        "/miniapp/dashboard/session",
        json={"init_data": town.init_data(town.bob)},
        headers={"Accept": "text/html"},
    )
    assert page.status_code == 403
    assert "Managers only" in page.text
    assert "Town &lt;i&gt;square&lt;/i&gt;" in page.text and "<i>" not in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    # Telegram knows no such group: nobody administers it.
    assert (await town.session(town.alice, chat_id=-4242)).status_code == 403


FORGERIES = {
    "bad hash": lambda data: data.replace("hash=", "hash=0"),
    "changed field": lambda data: data.replace("%22x%22", "%22y%22"),
    "truncated": lambda data: data[: len(data) // 2],
}


async def test_forged_or_foreign_credentials_are_refused(town: Town) -> None:
    for what, tamper in FORGERIES.items():
        answer = await town.api.post(
            "/miniapp/dashboard/session", json={"init_data": tamper(town.init_data(town.alice))}
        )
        assert answer.status_code == 401, what
        assert answer.json()["reason"], what
    other_bot = await town.session(town.alice, token="999:another-bots-token")
    assert other_bot.status_code == 401
    # A members' Mini App token is not a dashboard token, even an administrator's.
    member = await town.api.post("/miniapp/session", json={"init_data": town.init_data(town.alice)})
    token = member.json()["token"]
    refused = await town.api.get(
        "/miniapp/dashboard/rules", headers={"Authorization": f"Bearer {token}"}
    )
    assert refused.status_code == 401
    assert (await town.api.get("/miniapp/dashboard/rules")).status_code == 401


async def test_rules_validation_error_keeps_the_old_rules(town: Town) -> None:
    headers = await town.manager()
    before = (await town.api.get("/miniapp/dashboard/rules", headers=headers)).json()
    bad = {"changes": {"message.points": "-5", "message.bogus": "1"}}
    for path in ("/miniapp/dashboard/rules", "/miniapp/dashboard/rules/preview"):
        answer = await town.api.post(path, json=bad, headers=headers)
        assert answer.status_code == 422
        problems = answer.json()["problems"]
        assert any(p.startswith("message.bogus") for p in problems)
        assert any(p.startswith("message.points") for p in problems)
    html = await town.api.post(
        "/miniapp/dashboard/rules",
        json={"extra": "message.points=lots"},
        headers={**headers, "Accept": "text/html"},
    )
    assert html.status_code == 422 and "Not changed" in html.text
    after = (await town.api.get("/miniapp/dashboard/rules", headers=headers)).json()
    assert after == before

    saved = await town.api.post(
        "/miniapp/dashboard/rules",
        json={"changes": {"message.points": "7"}, "extra": "app_events.quiz=3"},
        headers=headers,
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["saved"] == before["version"] + 1
    async with town.running.gateway.sessions() as session:
        version, current = await rules.current(session=session, chat_id=town.group)
    assert (version, current.message.points) == (before["version"] + 1, 7)
    assert current.app_events == {"quiz": 3}


async def test_preview_against_a_hand_computation(town: Town) -> None:
    headers = await town.manager()
    same = await town.api.post(
        "/miniapp/dashboard/rules/preview",
        json={"changes": {"message.points": "10"}},
        headers=headers,
    )
    assert same.status_code == 200, same.text
    # Defaults: Alice's first message 10 (the next two in cooldown) + Bob's reaction 1;
    # Bob's message 10.
    rows = {m["member_id"]: (m["before"], m["after"]) for m in same.json()["members"]}
    assert rows == {town.alice: (11, 11), town.bob: (10, 10)}

    answer = await town.api.post(
        "/miniapp/dashboard/rules/preview",
        json={
            "changes": {"message.points": "4", "message.cooldown_seconds": "0"},
            "extra": "interactions.reaction_points=6",
        },
        headers=headers,
    )
    body = answer.json()
    # No cooldown: Alice 3 x 4 + 6 for the reaction = 18; Bob 1 x 4.
    rows = {m["member_id"]: (m["before"], m["after"], m["delta"]) for m in body["members"]}
    assert rows == {town.alice: (11, 18, 7), town.bob: (10, 4, -6)}
    assert (body["total_before"], body["total_after"]) == (21, 22)
    assert body["by_kind"]["message"] == {"before": 20, "after": 16}
    assert body["by_kind"]["reaction"] == {"before": 1, "after": 6}
    assert [c["key"] for c in body["changed"]] == [
        "message.points",
        "message.cooldown_seconds",
        "interactions.reaction_points",
    ]
    assert body["epoch"]["state"] == "open"
    # Nothing was stored by the preview.
    async with town.running.gateway.sessions() as session:
        assert (await rules.current(session=session, chat_id=town.group))[1] == rules.DEFAULT_RULES


async def test_csv_exports(town: Town) -> None:
    headers = await town.manager()
    ledger_csv = await town.api.get("/miniapp/dashboard/export/ledger.csv", headers=headers)
    assert ledger_csv.status_code == 200
    assert ledger_csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in ledger_csv.headers["content-disposition"]
    entries = list(csv.DictReader(io.StringIO(ledger_csv.text)))
    assert sum(int(e["points"]) for e in entries) == 21
    assert {e["cause"] for e in entries} >= {
        f"msg:{town.first_message}",
        f"reaction:{town.first_message}:{town.bob}",
    }
    scores = list(
        csv.reader(
            io.StringIO(
                (await town.api.get("/miniapp/dashboard/export/scores.csv", headers=headers)).text
            )
        )
    )
    assert scores == [
        ["epoch", "member_id", "name", "points", "standing"],
        ["1", str(town.alice), "Alice", "11", ""],
        ["1", str(town.bob), "'" + FORMULA_NAME, "10", ""],
    ]
    daily = list(
        csv.DictReader(
            io.StringIO(
                (
                    await town.api.get("/miniapp/dashboard/export/analytics.csv", headers=headers)
                ).text
            )
        )
    )
    assert len(daily) == 30
    assert (daily[-1]["messages"], daily[-1]["active_members"]) == ("4", "2")
    retention = (
        await town.api.get("/miniapp/dashboard/export/retention.csv", headers=headers)
    ).text.splitlines()
    assert retention[0] == "join_week,members,week_0,week_1,week_2,week_3,week_4,week_5"
    # Both joined this week and wrote in it; later weeks are still to come (empty).
    assert retention[-1].split(",")[1:] == ["2", "2", "", "", "", "", ""]
    assert (await town.api.get("/miniapp/dashboard/export/scores.csv")).status_code == 401


async def test_analytics_and_charts(town: Town) -> None:
    headers = await town.manager()
    data = (await town.api.get("/miniapp/dashboard/analytics", headers=headers)).json()
    assert data["days"][-1]["messages"] == 4 and data["days"][-1]["active"] == 2
    assert [(t["name"], t["points"]) for t in data["top"]] == [("Alice", 11), (FORMULA_NAME, 10)]
    assert sum(b["members"] for b in data["distribution"]) == 2
    assert data["retention"][-1]["size"] == 2 and data["retention"][-1]["active"][0] == 2
    html = await town.api.get(
        "/miniapp/dashboard/analytics", headers={**headers, "Accept": "text/html"}
    )
    assert html.text.count("<svg") == 4
    assert "<script" not in html.text and "style=" not in html.text


async def test_close_preview_publish_and_review(town: Town) -> None:
    headers = await town.manager()
    closed = await town.api.post(
        "/miniapp/dashboard/epochs/1/close", json={"pool": 1000}, headers=headers
    )
    assert closed.status_code == 200, closed.text
    body = closed.json()
    # Nobody linked a wallet: the whole pool is held back, member by member.
    assert body["settlement"]["state"] == "closed" and body["claims"] == []
    assert sum(int(u["amount"]) for u in body["unlinked"]) == 1000
    again = await town.api.post(
        "/miniapp/dashboard/epochs/1/close", json={"pool": 1000}, headers=headers
    )
    assert again.status_code == 409 and "already settled" in again.json()["problems"][0]
    published = await town.api.post("/miniapp/dashboard/epochs/1/publish", json={}, headers=headers)
    assert published.status_code == 200, published.text
    states = {e["number"]: e["state"] for e in published.json()["epochs"]}
    assert states == {1: "published", 2: "open"}

    no_reason = await town.api.post(
        f"/miniapp/dashboard/flags/{town.bob}", json={"action": "exclude"}, headers=headers
    )
    assert no_reason.status_code == 422
    excluded = await town.api.post(
        f"/miniapp/dashboard/flags/{town.bob}",
        json={"action": "exclude", "reason": "duplicate account"},
        headers=headers,
    )
    assert excluded.status_code == 200
    async with town.running.gateway.sessions() as session:
        epoch = await epochs.by_number(session=session, chat_id=town.group, number=1)
        assert epoch is not None and epoch.state == "published"
    scores = await town.api.get(
        "/miniapp/dashboard/export/scores.csv", params={"epoch": 1}, headers=headers
    )
    assert f"{town.bob},'{FORMULA_NAME},10,excluded" in scores.text


async def test_a_member_excluded_on_the_dashboard_is_told_why(town: Town) -> None:
    headers = await town.manager()
    dan = await town.call("POST", "/users", first_name="Dan", language_code="zh")
    await town.call("POST", f"/users/{dan['id']}/private")
    await town.call("POST", f"/chats/{town.group}/members", user_id=dan["id"])
    await town.running.sandbox.wait_idle(10)
    excluded = await town.api.post(
        f"/miniapp/dashboard/flags/{dan['id']}",
        json={"action": "exclude", "reason": "too many accounts"},
        headers=headers,
    )
    assert excluded.status_code == 200, excluded.text
    assert excluded.json()["decided"] == {"member_id": dan["id"], "action": "exclude", "told": True}
    await town.running.sandbox.wait_idle(10)
    private = await town.call("GET", f"/chats/{dan['id']}/messages")
    notices = [m["text"] for m in private if m.get("from", {}).get("is_bot")]
    # The title is the chat's own, shown as text: "<i>" is not markup here.
    assert notices[-1].startswith(
        "Town <i>square</i> 的管理员已将你排除在代币分配之外：too many accounts"
    )

    # Bob never started a chat with the bot: the decision stands, and the page says he was not told.
    cleared = await town.api.post(
        f"/miniapp/dashboard/flags/{town.bob}", json={"action": "clear"}, headers=headers
    )
    assert cleared.status_code == 200
    assert cleared.json()["decided"]["told"] is False
    page = await town.api.get(
        "/miniapp/dashboard/flags", headers={**headers, "Accept": "text/html"}
    )
    assert page.status_code == 200
