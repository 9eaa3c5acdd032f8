from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from core.settings import SANDBOX_BOT_TOKEN, Settings


def test_sandbox_defaults_are_embedded(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)
    assert settings.is_sandbox
    assert settings.effective_database_url == f"sqlite+aiosqlite:///{tmp_path}/townsquare.db"
    assert settings.base_url == "http://127.0.0.1:8080"
    assert settings.bot_id == int(SANDBOX_BOT_TOKEN.split(":")[0])


@pytest.mark.parametrize("field", ["bot_token", "webhook_secret"])
def test_production_refuses_placeholder_secrets(field: str) -> None:
    values = {"bot_token": "123:real-token", "webhook_secret": "s3cr3t-value"}
    values[field] = "changethis"
    with pytest.raises(ValidationError, match=field.upper()):
        Settings(_env_file=None, mode="production", **values)


def test_production_with_real_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOWNSQUARE_MODE", "production")
    monkeypatch.setenv("TOWNSQUARE_BOT_TOKEN", "123:real-token")
    monkeypatch.setenv("TOWNSQUARE_WEBHOOK_SECRET", "s3cr3t-value")
    monkeypatch.setenv("TOWNSQUARE_PUBLIC_URL", "https://bot.example.org/")
    settings = Settings(_env_file=None)
    assert settings.bot_token.get_secret_value() == "123:real-token"
    assert settings.public_host == "bot.example.org"
    assert "real-token" not in repr(settings)


def test_link_chain_id_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings(_env_file=None).link_evm_chain_id == 1
    monkeypatch.setenv("TOWNSQUARE_LINK_EVM_CHAIN_ID", "8453")
    assert Settings(_env_file=None).link_evm_chain_id == 8453


@pytest.mark.parametrize("value", ["0", "-1", "base"])
def test_link_chain_id_must_be_a_positive_integer(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("TOWNSQUARE_LINK_EVM_CHAIN_ID", value)
    with pytest.raises(ValidationError, match="link_evm_chain_id"):
        Settings(_env_file=None)
