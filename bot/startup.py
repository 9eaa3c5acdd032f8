"""Start-up without the cyclic garbage collector walking the code as it is imported.

Importing and building the gateway creates some 350,000 objects that live as long as the
process, and only a few thousand that are garbage. Yet the collector, triggered by every 700
allocations, walks the young ones again and again and the old ones now and then: a fifth of
the CPU time of the imports. `paused_gc()` holds it off while the gateway is imported and built,
then moves everything that exists by then to the permanent generation (`gc.freeze`), so that
the collections while the gateway runs skip those objects too.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


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
