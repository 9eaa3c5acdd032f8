"""One typed settings object for the gateway, read from `TOWNSQUARE_*` variables and `.env`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SANDBOX_BOT_TOKEN = "1000001:SANDBOX-not-a-real-telegram-token"
SANDBOX_WEBHOOK_SECRET = "sandbox-webhook-secret"
PLACEHOLDERS = frozenset({"", "changethis", "change-me", SANDBOX_BOT_TOKEN, SANDBOX_WEBHOOK_SECRET})


class Settings(BaseSettings):
    """Gateway configuration. `mode=sandbox` runs everything locally on embedded defaults."""

    model_config = SettingsConfigDict(
        env_prefix="TOWNSQUARE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    mode: Literal["sandbox", "production"] = "sandbox"
    data_dir: Path = Path("var")
    database_url: str = ""
    redis_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""
    bot_token: SecretStr = SecretStr(SANDBOX_BOT_TOKEN)
    webhook_secret: SecretStr = SecretStr(SANDBOX_WEBHOOK_SECRET)
    telegram_api_url: str = ""
    default_locale: str = "en"
    init_data_max_age: int = 3600
    # Hex of the 32-byte Ed25519 seed that signs Mini App session tokens; empty: a key file
    # generated once under data_dir.
    token_seed: SecretStr = SecretStr("")
    webhook_max_body: int = 1_048_576
    # The webhook's `max_connections` (Telegram's limit is 100, its default 40): how many updates
    # Telegram may deliver at once, and so how many the gateway handles in one batch.
    webhook_max_connections: int = Field(default=100, ge=1, le=100)
    sqlite_busy_timeout_ms: int = 5000
    log_level: str = "INFO"
    rate_global_per_second: float = 30.0
    rate_chat_per_minute: float = 20.0
    # The builder API's per-app token bucket: calls a second on average, and at once (0: off).
    builder_rate_per_second: float = 20.0
    builder_rate_burst: float = 40.0
    evm_rpc_urls: dict[str, str] = Field(default_factory=dict)
    # The EIP-155 chain id named in the SIWE message of wallet linking; EIP-1271 contract
    # wallets are checked on this chain, through its entry in `evm_rpc_urls`.
    link_evm_chain_id: int = Field(default=1, gt=0)
    solana_rpc_url: str = ""
    # Sandbox chains: anvil (0 = a free port) with a demo ERC-20, an in-process LiteSVM with a
    # demo SPL mint. `operator_key` (hex of 32 bytes) holds the demo treasury on both chains;
    # empty: anvil's first dev account. With `auto_fund`, publishing from the bot funds the
    # distributor and grants the Solana allowance from that treasury.
    sandbox_chains: bool = True
    anvil_port: int = 0
    operator_key: SecretStr = SecretStr("")
    auto_fund: bool = True

    # Seconds between sybil scans of the groups with an open epoch (managers are told of new
    # flags after each); 0 turns the periodic scan off (it still runs when an epoch closes).
    sybil_scan_interval: float = Field(default=900.0, ge=0)
    # Seconds between sweeps of self-deleting group replies that are due (also at start-up).
    deletion_sweep_interval: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> Settings:
        if self.mode == "production":
            for name in ("bot_token", "webhook_secret"):
                if getattr(self, name).get_secret_value() in PLACEHOLDERS:
                    msg = f"TOWNSQUARE_{name.upper()} must be set to a real secret in production"
                    raise ValueError(msg)
        return self

    @property
    def is_sandbox(self) -> bool:
        return self.mode == "sandbox"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return normalize_database_url(self.database_url)
        return f"sqlite+aiosqlite:///{(self.data_dir / 'townsquare.db').as_posix()}"

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def public_host(self) -> str:
        return urlsplit(self.base_url).netloc

    @property
    def bot_id(self) -> int:
        return int(self.bot_token.get_secret_value().split(":", 1)[0])


def normalize_database_url(url: str) -> str:
    """Maps plain `postgresql://` and `sqlite://` URLs onto the async drivers."""
    for prefix, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite:///", "sqlite+aiosqlite:///"),
    ):
        if url.startswith(prefix):
            return driver + url[len(prefix) :]
    return url


@lru_cache
def get_settings() -> Settings:
    return Settings()
