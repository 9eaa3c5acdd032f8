"""The builder platform and the points Mini App, measured in process through the real routes.

- `points render`: `GET /miniapp/api/points` (everything the points Mini App asks the server for:
  total, rank, breakdown by rule, newest entries) for a member with 10,000 ledger entries in the
  open epoch, on SQLite; latency per call, p50 against the 10 ms target, and p99, with CPU time
  per call. Repeated calls reuse the member's summary; `after a new entry` adds one ledger row
  before each call, so each of those rebuilds it from the whole ledger.
- `events`: `POST /v1/events` accepted per second, each with a fresh `Idempotency-Key` (so each
  one runs the whole path: app credentials, member token, group and cap checks, the idempotent
  ledger insert and the read-back), one client at a time, on SQLite and PostgreSQL.

The app is the gateway's routers on an ASGI transport (no sockets), the rate limit turned off.
"""

from __future__ import annotations

import asyncio
import base64
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI

from benchmarks.bench_webhook import POSTGRES_ADMIN
from benchmarks.harness import Row
from core import repo
from core.clock import utcnow
from core.db import create_engine, session_factory, transaction
from core.migrate import upgrade
from core.models_miniapps import MiniApp, hash_secret
from core.settings import Settings
from engagement import epochs, ledger, rules
from miniapps.api import create_api_router
from miniapps.deps import create_session_router, start_param_for
from miniapps.errors import install_error_handlers
from miniapps.initdata_sign import sign_init_data
from miniapps.registry import enable
from miniapps.v1 import create_builder_router

TOKEN = "4242:benchmark-bot-token"
GROUP, MEMBER, BUILDER = -100_555, 501, 502
APP, SECRET = "app_benchbenchbench0", "bench-secret-" + "x" * 30
ENTRIES = 10_000
RENDERS = 300
FRESH_RENDERS = 40
EVENTS = 1_000
SAMPLES = 3


async def seed(sessions: Any, entries: int) -> None:
    now = utcnow()
    async with transaction(sessions) as session:
        for member_id, name in ((MEMBER, "Member"), (BUILDER, "Builder")):
            await repo.upsert_member(
                session=session, id=member_id, username=None, first_name=name,
                last_name=None, language_code="en", is_bot=False,
            )  # fmt: skip
        await repo.upsert_chat(
            session=session, id=GROUP, type="supergroup", title="Bench", username=None
        )
        await epochs.ensure_setup(session=session, chat_id=GROUP)
        await repo.set_membership_status(
            session=session, chat_id=GROUP, member_id=MEMBER, status="member"
        )
        epoch = await epochs.current(session=session, chat_id=GROUP)
        assert epoch is not None and epoch.id is not None
        rules_now = (await rules.current(session=session, chat_id=GROUP))[1]
        await rules.set_rules(
            session=session, chat_id=GROUP, by=None,
            rules=rules_now.model_copy(update={"app_events": {"played": 1}}),
        )  # fmt: skip
        kinds = ("message", "reaction", "reply")
        await ledger.append(
            session=session,
            entries=[
                ledger.Entry(
                    chat_id=GROUP,
                    epoch_id=epoch.id,
                    member_id=MEMBER,
                    kind=kinds[i % 3],
                    rule=kinds[i % 3],
                    points=1 + i % 5,
                    rules_version=1,
                    cause=f"msg:{i}",
                    occurred_at=now - timedelta(seconds=entries - i),
                )  # fmt: skip
                for i in range(entries)
            ],
        )
        session.add(
            MiniApp(id=APP, name="Bench", owner_id=BUILDER, secret_hash=hash_secret(SECRET))
        )
        await session.flush()
        await enable(session=session, chat_id=GROUP, app_id=APP, cap=10**6, by=None)


def gateway_app(url: str, data_dir: Path) -> tuple[FastAPI, Any]:
    engine = create_engine(url)
    settings = Settings(
        mode="sandbox", data_dir=data_dir, bot_token=TOKEN, builder_rate_per_second=0
    )
    app = FastAPI()
    app.state.gateway = SimpleNamespace(settings=settings, sessions=session_factory(engine))
    install_error_handlers(app)
    for router in (create_session_router(), create_api_router(), create_builder_router()):
        app.include_router(router)
    return app, engine


async def token_for(client: httpx.AsyncClient, app_id: str | None) -> str:
    fields = {"user": {"id": MEMBER, "first_name": "Member"}, "start_param": start_param_for(GROUP)}
    body: dict[str, Any] = {"init_data": sign_init_data(fields, bot_token=TOKEN)}
    if app_id:
        body["app_id"] = app_id
    answer = await client.post("/miniapp/session", json=body)
    answer.raise_for_status()
    return str(answer.json()["token"])


@dataclass
class Renders:
    """Wall time per call, and this process's CPU time per call (the machine is shared, so
    CPU says what a call costs when wall time is inflated by neighbours)."""

    warm: list[float] = field(default_factory=list)
    warm_cpu: list[float] = field(default_factory=list)
    fresh: list[float] = field(default_factory=list)
    fresh_cpu: list[float] = field(default_factory=list)


async def add_entry(sessions: Any, i: int) -> None:
    """One more ledger row for the member: the next render has to rebuild its summary."""
    async with transaction(sessions) as session:
        epoch = await epochs.current(session=session, chat_id=GROUP)
        assert epoch is not None and epoch.id is not None
        await ledger.append(
            session=session,
            entries=[
                ledger.Entry(
                    chat_id=GROUP,
                    epoch_id=epoch.id,
                    member_id=MEMBER,
                    kind="reaction",
                    rule="reaction",
                    points=1,
                    rules_version=1,
                    cause=f"fresh:{i}",
                    occurred_at=utcnow(),
                )  # fmt: skip
            ],
        )


async def measure_renders(url: str, data_dir: Path) -> Renders:
    await asyncio.to_thread(upgrade, url)
    app, engine = gateway_app(url, data_dir)
    await seed(app.state.gateway.sessions, ENTRIES)
    transport = httpx.ASGITransport(app=app)
    out = Renders()
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        headers = {"Authorization": f"Bearer {await token_for(client, None)}"}

        async def render(wall: list[float], cpu: list[float], keep: bool) -> Any:
            started, used = time.perf_counter(), time.process_time()
            answer = await client.get("/miniapp/api/points", headers=headers)
            elapsed, spent = time.perf_counter() - started, time.process_time() - used
            assert answer.status_code == 200 and answer.json()["entries"], answer.text
            if keep:
                wall.append(elapsed * 1000)
                cpu.append(spent * 1000)
            return answer.json()

        for i in range(RENDERS + 20):
            # The first calls warm caches and compile statements.
            body = await render(out.warm, out.warm_cpu, i >= 20)
        assert body["by_rule"] and sum(r["entries"] for r in body["by_rule"]) == ENTRIES
        for i in range(FRESH_RENDERS):
            await add_entry(app.state.gateway.sessions, i)
            body = await render(out.fresh, out.fresh_cpu, True)
        assert sum(r["entries"] for r in body["by_rule"]) == ENTRIES + FRESH_RENDERS
    await engine.dispose()
    return out


async def measure_events(url: str, data_dir: Path) -> list[float]:
    await asyncio.to_thread(upgrade, url)
    app, engine = gateway_app(url, data_dir)
    await seed(app.state.gateway.sessions, 0)
    transport = httpx.ASGITransport(app=app)
    basic = "Basic " + base64.b64encode(f"{APP}:{SECRET}".encode()).decode()
    rates = []
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        member_token = await token_for(client, APP)
        for sample in range(SAMPLES):
            started = time.perf_counter()
            for i in range(EVENTS):
                answer = await client.post(
                    "/v1/events",
                    json={"member_token": member_token, "event": "played"},
                    headers={"Authorization": basic, "Idempotency-Key": f"s{sample}-e{i}"},
                )
                assert answer.json() == {"status": "credited", "points": 1}, answer.text
            rates.append(EVENTS / (time.perf_counter() - started))
        # A replay is answered, and credits nothing more.
        again = await client.post(
            "/v1/events",
            json={"member_token": member_token, "event": "played"},
            headers={"Authorization": basic, "Idempotency-Key": "s0-e0"},
        )
        assert again.json() == {"status": "credited", "points": 1}
        points = await client.get(
            "/miniapp/api/points",
            headers={"Authorization": f"Bearer {await token_for(client, None)}"},
        )
        assert points.json()["points"] == EVENTS * SAMPLES
    await engine.dispose()
    return rates


async def with_postgres(fn: Any, data_dir: Path) -> list[float]:
    name = f"townsquare_bench_builder_{int(time.time())}"
    admin = await asyncpg.connect(POSTGRES_ADMIN, timeout=5)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = POSTGRES_ADMIN.rsplit("/", 1)[0].split("://", 1)[1]
    try:
        return list(await fn(f"postgresql+asyncpg://{base}/{name}", data_dir))
    finally:
        admin = await asyncpg.connect(POSTGRES_ADMIN, timeout=5)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def collect() -> list[Row]:
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        renders = asyncio.run(measure_renders(f"sqlite+aiosqlite:///{data / 'r.db'}", data))
        p50 = statistics.median(renders.warm)
        rows.append(
            Row(
                "points render p50 (10k entries, sqlite)",
                "ms",
                [p50],
                higher_is_better=False,
                target="< 10 ms",
                notes=[
                    f"{len(renders.warm)} calls; p99 {percentile(renders.warm, 0.99):.2f} ms;"
                    f" CPU p50 {statistics.median(renders.warm_cpu):.2f} ms"
                ],
            )  # fmt: skip
        )
        rows.append(
            Row(
                "points render, every call (sqlite)",
                "ms",
                renders.warm,
                higher_is_better=False,
            )  # fmt: skip
        )
        rows.append(
            Row(
                "points render p50 after a new entry (sqlite)",
                "ms",
                [statistics.median(renders.fresh)],
                higher_is_better=False,
                notes=[
                    f"{len(renders.fresh)} calls, each after one more ledger row (the"
                    f" summary is rebuilt); CPU p50 {statistics.median(renders.fresh_cpu):.2f} ms"
                ],
            )  # fmt: skip
        )
        sqlite = asyncio.run(measure_events(f"sqlite+aiosqlite:///{data / 'e.db'}", data))
        rows.append(Row("events accepted (sqlite)", "events/s", sqlite))
        try:
            postgres = asyncio.run(with_postgres(measure_events, data))
        except (OSError, asyncpg.PostgresError) as exc:
            rows[-1].notes.append(f"PostgreSQL not measured: {exc}")
        else:
            rows.append(
                Row(
                    "events accepted (postgres)",
                    "events/s",
                    postgres,
                    peer="events accepted (sqlite)",
                )
            )
    return rows
