"""The collector is held off while the gateway imports, and skips what exists by then."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from bot.startup import paused_gc


@pytest.fixture
def collector() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
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
