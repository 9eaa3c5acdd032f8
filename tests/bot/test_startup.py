"""The collector is held off while the gateway imports, and skips what exists by then; a
serving gateway collects rarely, but still collects garbage cycles; aiohttp can be imported on a
thread of its own; httpx can be imported without its command-line client, and FastAPI with its
own models built on first use."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref
from collections.abc import Iterator

import pytest

from bot.startup import SERVING_THRESHOLD, paused_gc, serving_gc

ASIDE = """
import sys
from bot.startup import import_aiohttp_aside
thread = import_aiohttp_aside()
thread.join()
from aiohttp.connector import TCPConnector
print(thread.name, TCPConnector.__module__, "aiogram" in sys.modules)
"""

WITHOUT_HTTPX_CLI = """
import sys
from bot.startup import skip_httpx_cli
skip_httpx_cli()
import httpx
print(httpx.AsyncClient.__name__, "rich.progress" in sys.modules, "pygments" in sys.modules)
"""

FASTAPI_DEFERRED = """
from pydantic import BaseModel
from bot.startup import import_fastapi_deferred
import_fastapi_deferred()
from fastapi import FastAPI
from fastapi.openapi import models

class Later(BaseModel):
    n: int

app = FastAPI()

@app.get("/later")
def later() -> Later:
    return Later(n=1)

before = models.OpenAPI.__pydantic_complete__
paths = list(app.openapi()["paths"])
print(before, models.OpenAPI.__pydantic_complete__, Later.__pydantic_complete__, paths)
print("defer_build" in BaseModel.model_config)
"""


@pytest.fixture
def collector() -> Iterator[None]:
    enabled = gc.isenabled()
    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)
    gc.unfreeze()
    if enabled:
        gc.enable()
    else:
        gc.disable()


@pytest.mark.usefixtures("collector")
def test_paused_then_frozen() -> None:
    gc.enable()
    gc.unfreeze()
    with paused_gc():
        assert not gc.isenabled()
        made_inside = [object()]
    assert gc.isenabled()
    assert gc.get_freeze_count() > len(made_inside)


@pytest.mark.usefixtures("collector")
def test_a_disabled_collector_stays_disabled_even_after_an_error() -> None:
    gc.disable()
    with pytest.raises(RuntimeError), paused_gc():
        raise RuntimeError
    assert not gc.isenabled()


class _Cycle:
    def __init__(self) -> None:
        self.me = self


@pytest.mark.usefixtures("collector")
def test_serving_collects_cycles_once_enough_is_allocated() -> None:
    gc.enable()
    serving_gc()
    assert gc.get_threshold() == SERVING_THRESHOLD
    gc.collect()
    collected = []
    cycle = _Cycle()
    weakref.finalize(cycle, collected.append, True)
    del cycle
    young = [[] for _ in range(SERVING_THRESHOLD[0] // 2)]
    assert collected == []  # fewer allocations than the threshold: no collection yet
    young += [[] for _ in range(SERVING_THRESHOLD[0])]
    assert collected == [True]
    assert len(young) > SERVING_THRESHOLD[0]


def test_aiohttp_is_imported_on_a_thread_of_its_own() -> None:
    # A new interpreter: the test process has imported aiohttp long before.
    out = subprocess.run(
        [sys.executable, "-c", ASIDE], check=True, capture_output=True, text=True
    ).stdout.split()
    assert out == ["import-aiohttp", "aiohttp.connector", "False"]


def test_httpx_comes_without_its_command_line_client() -> None:
    out = subprocess.run(
        [sys.executable, "-c", WITHOUT_HTTPX_CLI], check=True, capture_output=True, text=True
    )
    assert out.stdout.split() == ["AsyncClient", "False", "False"]


def test_fastapis_own_models_are_built_on_first_use() -> None:
    out = subprocess.run(
        [sys.executable, "-c", FASTAPI_DEFERRED], check=True, capture_output=True, text=True
    )
    # Built only once the OpenAPI document is asked for; a model defined afterwards is built at
    # once, and pydantic's default is back.
    assert out.stdout.split() == ["False", "True", "True", "['/later']", "False"]
