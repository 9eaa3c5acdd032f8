"""schemathesis against the live gateway's `/openapi.json`: no operation answers 5xx, and no
operation that declares app credentials answers without them (no auth bypass).

The gateway serves the sandbox on a loopback port; an app is registered through the
sandbox chat and a member session is opened through the sandbox's Mini App launch, so the
fuzzer reaches past the credential checks too.
"""

from __future__ import annotations

import asyncio
import base64
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import ignored_auth, not_a_server_error

from core.settings import Settings
from tests.conftest import free_port, start_gateway

# The sandbox's own UI and Telegram's webhook are not part of the public API.
PUBLIC = r"^/(v1|miniapp|\.well-known|healthz|epochs|link)"
EXAMPLES = 25


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data = tmp_path_factory.mktemp("fuzz")
    settings = Settings(
        mode="sandbox",
        data_dir=data,
        database_url=f"sqlite+aiosqlite:///{data / 'townsquare.db'}",
        port=free_port(),
        # The limiter has its own tests; here it would only turn the fuzzer's calls into 429s.
        builder_rate_per_second=0,
        rate_chat_per_minute=600,
        rate_global_per_second=300,
    )
    # The gateway serves from its own event loop in a thread: schemathesis calls it over HTTP.
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    running, server, task = asyncio.run_coroutine_threadsafe(start_gateway(settings), loop).result(
        120
    )
    try:
        yield {"base": running.base_url, **credentials(running.base_url)}
    finally:
        server.should_exit = True
        asyncio.run_coroutine_threadsafe(asyncio.wait_for(task, 15), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(15)


def credentials(base: str) -> dict[str, str]:
    """An app registered with /newapp, and a member's gateway session, both through the
    sandbox as a person would make them."""
    ui = httpx.Client(base_url=f"{base}/sandbox/ui", timeout=15)
    user = ui.post("/users", json={"first_name": "Fuzz"}).json()["id"]
    ui.post(f"/users/{user}/private")
    ui.post(f"/chats/{user}/messages", json={"from_id": user, "text": "/newapp Fuzz"})
    deadline = time.monotonic() + 20
    found = None
    while found is None:
        assert time.monotonic() < deadline, "the bot did not answer /newapp"
        texts = [m.get("text", "") for m in ui.get(f"/chats/{user}/messages").json()]
        found = next(
            (re.search(r"App id: (\S+)\nSecret: (\S+)", t) for t in texts if "App id" in t), None
        )
        time.sleep(0.1)
    launch = ui.post(
        "/webapp/init", json={"user_id": user, "chat_id": user, "url": f"{base}/miniapp/points"}
    ).json()
    token = httpx.post(f"{base}/miniapp/session", json={"init_data": launch["init_data"]})
    basic = base64.b64encode(f"{found[1]}:{found[2]}".encode()).decode()
    return {"basic": f"Basic {basic}", "bearer": f"Bearer {token.json()['token']}"}


def fuzz(operation: Any, live: dict[str, Any]) -> None:
    auth = live["basic"] if operation.path.startswith("/v1/") else live["bearer"]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(
            base_url=live["base"],
            headers={"Authorization": auth},
            checks=[not_a_server_error, ignored_auth],
        )

    run()


def test_no_server_errors_and_no_auth_bypass(live: dict[str, Any]) -> None:
    # Loaded from the running gateway, so the document fuzzed is the one clients get.
    # (schemathesis' lazy pytest fixture does not run on this pytest; its Python API does.)
    schema = schemathesis.openapi.from_url(f"{live['base']}/openapi.json")
    operations = [result.ok() for result in schema.include(path_regex=PUBLIC).get_all_operations()]
    assert len(operations) >= 15, "the public API went missing from the document"
    failures: dict[str, str] = {}
    for operation in operations:
        try:
            fuzz(operation, live)
        except (Exception, BaseExceptionGroup) as exc:  # every operation, every failure
            failures[f"{operation.method.upper()} {operation.path}"] = str(exc)[:2000]
    assert failures == {}
