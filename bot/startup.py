"""Start-up without the cyclic garbage collector walking the code as it is imported.

Importing and building the gateway creates some 350,000 objects that live as long as the
process, and only a few thousand that are garbage. Yet the collector, triggered by every 700
allocations, walks the young ones again and again and the old ones now and then: a fifth of
the CPU time of the imports. `paused_gc()` holds it off while the gateway is imported and built,
then moves everything that exists by then to the permanent generation (`gc.freeze`), so that
the collections while the gateway runs skip those objects too.

A serving gateway then allocates in bursts: the updates of a batch hold their young objects until
the batch commits, and reference counting frees nearly all of them at once. With the default
threshold (a young collection every 700 net allocations) the collector runs every few updates,
walks objects that are about to be freed, and promotes the survivors to older generations whose
collections cost more: some 45 µs of CPU per update, a sixth of a plain message's whole path.
`serving_gc()` raises the threshold so that it hardly runs; the rare garbage cycles are still
collected.
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# Young collections every 10,000 net allocations (instead of 700); the older generations' own
# thresholds are the default.
SERVING_THRESHOLD = (10_000, 10, 10)


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic collection inside; afterwards the objects made so far are never scanned."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def serving_gc() -> None:
    """Sets the collector's thresholds for a long-running gateway (`SERVING_THRESHOLD`)."""
    gc.set_threshold(*SERVING_THRESHOLD)


def import_aiohttp_aside() -> threading.Thread:
    """Starts importing aiohttp on a thread of its own, while the caller imports the rest.

    Importing aiohttp builds two TLS contexts, each loading the system's certificate store:
    some 100 ms in OpenSSL, which does not hold the interpreter lock, so on a second core that
    time is taken off the gateway's start-up. The gateway imports aiohttp (through aiogram)
    either way; a thread that imports it first only moves when its work happens. asyncio and
    ssl, which the rest of the gateway imports too, are imported here first, so that the two
    threads seldom import the same module at the same time.
    """
    import asyncio  # noqa: F401
    import ssl  # noqa: F401

    thread = threading.Thread(target=_import_aiohttp, name="import-aiohttp", daemon=True)
    thread.start()
    return thread


def _import_aiohttp() -> None:
    import aiohttp.connector  # noqa: F401


def skip_httpx_cli() -> None:
    """Keeps httpx from importing its command-line client.

    httpx imports it whenever click and rich are installed, as Typer installs them, and with it
    pygments and rich's progress bars: some 45 ms of the sandbox's start-up (the sandbox posts
    updates with httpx), for a program the gateway never runs. httpx expects that import to fail
    where its `cli` extra is missing, and then offers a `main` that says so.
    """
    sys.modules.setdefault("httpx._main", None)  # `import httpx._main` now fails


def import_fastapi_deferred() -> None:
    """Imports FastAPI with the validators of the pydantic models it defines built on first use.

    FastAPI defines the models of the OpenAPI document (some 40 classes) as it is imported, and
    pydantic builds each one's validator then: 100 to 130 ms of the gateway's start-up, for
    models that only `/openapi.json` uses, and few of them. Models defined afterwards are built
    as usual; a no-op once FastAPI is imported.
    """
    from pydantic import BaseModel

    if "fastapi" in sys.modules:
        return
    BaseModel.model_config["defer_build"] = True
    try:
        import fastapi  # noqa: F401
    finally:
        del BaseModel.model_config["defer_build"]
