"""`/healthz` says 200 only once updates can reach the bot: its webhook must be registered."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from core.models_sandbox import SandboxBot
from core.settings import Settings
from tests.conftest import free_port
from tests.tests_support import wait_for


@pytest.fixture
def gateway_settings(gateway_settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """With `unreachable`, the bot talks to a Bot API where nothing listens."""
    if getattr(request, "param", None) != "unreachable":
        return gateway_settings
    api = f"http://127.0.0.1:{free_port()}/sandbox"
    return gateway_settings.model_copy(update={"telegram_api_url": api})


async def health(gateway: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=10) as http:
        return await http.get("/healthz")


@pytest.mark.parametrize("gateway_settings", ["unreachable"], indirect=True)
async def test_healthz_is_503_while_the_webhook_cannot_be_registered(
    gateway: Any, caplog: pytest.LogCaptureFixture
) -> None:
    await wait_for(
        lambda: _logged(caplog, "webhook registration failed"), what="a failed registration"
    )
    response = await health(gateway)
    assert response.status_code == 503
    assert response.json()["status"] == "starting"
    assert response.headers["retry-after"] == "1"
    assert gateway.gateway.awaiting_webhook


async def test_healthz_is_200_once_the_webhook_is_registered(gateway: Any) -> None:
    async def healthy() -> bool:
        return (await health(gateway)).status_code == 200

    await wait_for(healthy, what="healthz 200")
    assert not gateway.gateway.awaiting_webhook

    async def registered(session: Any) -> str:
        bot = await session.get(SandboxBot, gateway.settings.bot_id)
        return bot.webhook_url if bot is not None else ""

    url = await gateway.sandbox.run(registered)
    assert url == f"{gateway.base_url}/telegram/webhook"


async def _logged(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    return any(text in record.getMessage() for record in caplog.records)
