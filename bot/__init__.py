"""The bot, the sandbox and the gateway."""

from bot.deferred_types import install

install()
