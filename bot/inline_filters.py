"""Runs the routers' synchronous filters on the event loop instead of in a thread.

aiogram calls a filter that is not a coroutine function (a magic filter such as
`F.chat.type == "private"`, a plain predicate) through `asyncio.to_thread`. Those filters are
attribute lookups and comparisons: a thread hop per filter per update costs a hundred times
what the filter does, and every group message passes the filters of every router before it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from aiogram import Router
from aiogram.dispatcher.event.handler import FilterObject
from aiogram.types import Message


def command_like(message: Message) -> bool:
    """A router-level filter in front of `Command` handlers: most messages are no command, and
    one cheap check per router spares the per-handler ones."""
    return (message.text or message.caption or "").startswith("/")


GROUP_TYPES = frozenset({"group", "supergroup"})


def group_chatter(message: Message) -> bool:
    """A group message that is no command: most of the traffic, which only `group` handles."""
    return message.chat.type in GROUP_TYPES and not command_like(message)


def _inline(callback: Callable[..., Any]) -> Callable[..., Any]:
    async def call(*args: Any, **kwargs: Any) -> Any:
        return callback(*args, **kwargs)

    return call


def _filters(router: Router) -> Iterable[FilterObject]:
    for observer in router.observers.values():
        yield from observer._handler.filters or ()
        for handler in observer.handlers:
            yield from handler.filters or ()


def inline_sync_filters(root: Router) -> int:
    """Makes every synchronous filter of `root` and its sub-routers run inline.

    The filter keeps its parameters (aiogram picks the keyword arguments it passes from the
    original signature). Returns how many filters were changed.
    """
    changed = 0
    for router in root.chain_tail:
        for item in _filters(router):
            if not item.awaitable:
                item.callback = _inline(item.callback)
                item.awaitable = True
                changed += 1
    return changed
