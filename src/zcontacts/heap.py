"""The served process's heap: what start-up made is moved out of the garbage collector's full collections
(ZCONTACTS_GC_FREEZE). Its own module, light to import, so the benchmark's limits (bench/limit_app.py) do the
same as zcontacts' server without importing the app."""

from __future__ import annotations

import gc


def freeze_heap() -> None:
    """Collect, then move every object still alive (modules, classes, the app, its caches) to the collector's
    permanent generation, which its full collections skip. Without it, a full collection (run whenever enough
    requests' objects outlive two young collections, every second or two under steady writes) walked every
    object start-up left (~76,000 tracked ones), 18-38 ms with the event loop stopped: served writes at 64
    connections had a p99 of 35-63 ms, 27-51 ms with it (docs/PERFORMANCE.md). Once, at start-up only: later
    freezes would also pin whatever requests were in flight, and leak what of it later became a cycle."""
    gc.collect()
    gc.freeze()
