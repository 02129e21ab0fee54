"""SQLite's WAL written a commit at a time: the optional C shim in `_walbuffer.c` (built by setup.py).

SQLite appends each WAL frame with two writes (header, page); the shim joins a commit's frames into one
(docs/PERFORMANCE.md: 10-18 % less CPU per create, update and delete). It wraps the default VFS for every
SQLite connection the process opens afterwards, and passes every file but the WAL straight through.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable

log = logging.getLogger("zcontacts.storage")

_lock = threading.Lock()
_usable: bool | None = None  # None until first checked
_enabled = False


def configure(enabled: bool) -> bool:
    """Make the shim SQLite's default VFS (or stop); True when SQLite connections opened from now on buffer
    their WAL writes. False, with one log line, when the extension was not built or was linked to another
    SQLite library than the `sqlite3` module's (a VFS registered there would never be used)."""
    global _usable, _enabled
    with _lock:
        if _usable is None:
            _usable = _check()
        if not _usable:
            return False
        from zcontacts.storage import _walbuffer

        _walbuffer.set_default(enabled)
        _enabled = enabled
        return enabled


def read_clock() -> Callable[[], float] | None:
    """A clock of the seconds the calling thread has spent in SQLite's file reads (its page cache's misses), for
    connections opened while the shim is SQLite's default VFS (`configure`); None when it is not."""
    if not _enabled:
        return None
    from zcontacts.storage import _walbuffer

    return _walbuffer.read_seconds


def _check() -> bool:
    try:
        from zcontacts.storage import _walbuffer
    except ImportError:
        log.info("SQLite WAL buffering unavailable: the _walbuffer extension is not built")
        return False
    name = _walbuffer.set_default(False)
    try:
        # Opening through the VFS by name proves it is registered in the library sqlite3 uses.
        sqlite3.connect(f"file:zcontacts-probe?mode=memory&vfs={name}", uri=True).close()
    except sqlite3.Error:
        log.info(
            "SQLite WAL buffering unavailable: _walbuffer uses SQLite %s, not the sqlite3 module's library",
            _walbuffer.library_version(),
        )
        return False
    return True
