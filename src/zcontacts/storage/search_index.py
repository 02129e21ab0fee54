"""Keeping SQLite's trigram index in step with the contacts, in batches, and compact once writes stop.

Writes do not touch the FTS5 index themselves: triggers queue what to index or unindex in
contacts_fts_pending (migration 0007), and `apply_pending` moves the whole queue into the index inside a write
transaction. The server applies it every APPLY_EVERY writes (storage/database.py) and when writes stop (below),
so the queue stays short; searches read the index plus the queue (storage/contacts.py), so they never miss a
queued row. One batch of 64 writes' entries costs about an eighth of what the same entries cost one
transaction at a time (FTS5 tokenizes them alike but flushes one segment per transaction).

FTS5 writes a new segment for every transaction that changes it and merges segments only lazily: each batch ends
with at most APPLY_MERGE_PAGES pages of merging where a level has 4 segments (FTS5's own automatic merges, whose
work at a time is unbounded, are off since migration 0009: one batch in a hundred had taken 50–190 ms). So
under writes the index holds 5-20 of them (one per write transaction before the queue; one per batch now), and
a search looks each of its trigrams up in every one. Over 1,000,000 customers, after 20,000 creates the index
had 12 segments and a search's SQL took 514 µs; merged into one, 259 µs (docs/PERFORMANCE.md). And a deleted
or renamed contact's entries stay in the index, with entries that cancel them, until a merge reaches both: a
10,000-customer index that had seen ~170,000 creates and deletes held 33 MB for 3 MB of live entries, and
each index write cost 8 times as much. So a server watches the database, and once no connection has written
for QUIET_SECONDS and the index has more than MAX_SEGMENTS segments, or the unindex entries moved into it
since its last full merge (counted by migration 0008's contacts_fts_upkeep) reach CHURN_SHARE of the
customers, it merges the index in the background in short steps (FTS5's incremental 'merge' with a negative
page count, which merges every segment into one and drops what cancels out). Each step is its own
transaction of ~STEP_PAGES pages, so a write that arrives meanwhile waits at most one step, and the first
write seen (by any connection, in any process) stops the merge until writes are quiet again.

Before merging, the compactor applies what is queued, so an idle server's index is complete. Neither changes
what a search finds: applying moves entries from the queue into the index, merging rewrites its segments."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from zcontacts.storage.engine import BUSY_TIMEOUT_MS, first_line, missing_table
from zcontacts.storage.tables import TRIGRAM_KEYS

log = logging.getLogger("zcontacts")

QUIET_SECONDS = 1.0  # no write by any connection for this long before a merge starts
POLL_SECONDS = 0.5  # how often the watcher reads the database's change counter
MAX_SEGMENTS = 8  # more segments than this are merged; FTS5 alone keeps 5-20 under writes
# Cancelled entries (since the last full merge) that get an index of fewer segments merged: this share of the
# customers, and at least CHURN_MINIMUM, so a merge (which rewrites the whole index) pays for itself.
CHURN_SHARE = 0.1
CHURN_MINIMUM = 1000
STEP_PAGES = 100  # pages written per merge transaction: ~15 ms over 1,000,000 customers

APPLY_EVERY = 64  # writes of one process between batches moved from the queue into the index
# Pages of FTS5 merging after each batch (migration 0009 turned FTS5's own unbounded merges off): enough to keep
# up with the segments the batches make (the same number as FTS5 alone keeps) while bounding the batch's time.
APPLY_MERGE_PAGES = 32

_SEGMENTS = "SELECT count(DISTINCT segid) FROM contacts_fts_idx"
_MERGE = "INSERT INTO contacts_fts(contacts_fts, rank) VALUES ('merge', ?)"


_KEYS = ", ".join(TRIGRAM_KEYS)
_LAST_PENDING = "SELECT max(seq) FROM contacts_fts_pending"
# In queue order: an entry's keys are the row's at the time, so the index ends as if each was applied at once.
_APPLY = (
    f"INSERT INTO contacts_fts (contacts_fts, rowid, {_KEYS}) "
    f"SELECT command, contact_id, {_KEYS} FROM contacts_fts_pending WHERE seq <= ? ORDER BY seq"
)
_FORGET = "DELETE FROM contacts_fts_pending WHERE seq <= ?"
# The entries about to be applied that unindex a row's old keys: each leaves a cancelled entry behind.
_COUNT_CHURN = (
    "UPDATE contacts_fts_upkeep SET cancelled_entries = cancelled_entries + "
    "(SELECT count(*) FROM contacts_fts_pending WHERE seq <= ? AND command IS NOT NULL)"
)
_CHURN = "SELECT cancelled_entries FROM contacts_fts_upkeep"
_MERGED = "UPDATE contacts_fts_upkeep SET cancelled_entries = max(0, cancelled_entries - ?)"
# FTS5's averages record (id 1 of its data table) starts with the number of rows the index holds, as a varint.
_AVERAGES = "SELECT block FROM contacts_fts_data WHERE id = 1"


def apply_pending(connection: sqlite3.Connection) -> int:
    """Move every queued entry into the trigram index, inside the caller's write transaction; returns how many
    there were. A database older than migration 0007 has no queue (its triggers index at once): 0."""
    last = _last_pending(connection)
    if last is None:
        return 0
    connection.execute(_COUNT_CHURN, (last,))
    connection.execute(_APPLY, (last,))
    applied = int(connection.execute(_FORGET, (last,)).rowcount)
    # A positive page count merges only where FTS5 would have (a level of `usermerge` segments, 4).
    connection.execute(_MERGE, (APPLY_MERGE_PAGES,))
    return applied


@contextmanager
def _writing(connection: sqlite3.Connection) -> Iterator[None]:
    """A write transaction of its own on an autocommit connection: committed if the block returns."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def apply_step(connection: sqlite3.Connection) -> int:
    """`apply_pending` in a write transaction of its own, taken only when something is queued."""
    if _last_pending(connection) is None:
        return 0
    with _writing(connection):
        return apply_pending(connection)


def _last_pending(connection: sqlite3.Connection) -> int | None:
    try:
        (last,) = connection.execute(_LAST_PENDING).fetchone()
    except sqlite3.OperationalError as exc:
        if missing_table(exc):
            return None
        raise
    return None if last is None else int(last)


def segments(connection: sqlite3.Connection) -> int:
    """How many segments the trigram index has."""
    (count,) = connection.execute(_SEGMENTS).fetchone()
    return int(count)


def churn(connection: sqlite3.Connection) -> int:
    """Unindex entries moved into the trigram index since it was last merged into one segment."""
    (cancelled,) = connection.execute(_CHURN).fetchone()
    return int(cancelled)


def indexed_rows(connection: sqlite3.Connection) -> int:
    """How many customers the trigram index holds, read from FTS5's own count (a count(*) of the contacts
    would read the whole table: 0.35 s over 1,000,000 customers). 0 for an index that never held a row."""
    found = connection.execute(_AVERAGES).fetchone()
    if found is None:
        return 0
    try:
        return _varint(found[0])
    except (TypeError, ValueError):  # not the record SQLite's FTS5 writes: count the slow way
        (rows,) = connection.execute("SELECT count(*) FROM contacts").fetchone()
        return int(rows)


def _varint(data: bytes) -> int:
    """SQLite's variable-length integer (big-endian, 7 bits a byte; the ninth byte gives all 8)."""
    value = 0
    for position, byte in enumerate(data[:9]):
        if position == 8:
            return (value << 8) | byte
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value
    raise ValueError("truncated varint in the trigram index's averages record")


def forget_churn(connection: sqlite3.Connection, cancelled: int) -> None:
    """After a full merge: the `cancelled` entries counted before it are gone from the index."""
    with _writing(connection):
        connection.execute(_MERGED, (cancelled,))


def merge_step(connection: sqlite3.Connection, pages: int = STEP_PAGES) -> bool:
    """One step of merging every segment into one, in its own write transaction; False once there was
    nothing left to merge (FTS5 then changes nothing: one change, the command row itself)."""
    before = connection.total_changes
    with _writing(connection):
        connection.execute(_MERGE, (-pages,))
    return connection.total_changes - before > 1


def _data_version(connection: sqlite3.Connection) -> int:
    """SQLite's change counter: it moves whenever another connection (of any process) commits."""
    (version,) = connection.execute("PRAGMA data_version").fetchone()
    return int(version)


def _connect(path: str) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
    connection.isolation_level = None  # explicit transactions only
    connection.execute("PRAGMA synchronous=NORMAL")  # as every zcontacts connection (storage/engine.py)
    return connection


class IndexCompactor:
    """Merges the trigram index of one SQLite file when writes are quiet (see the module docstring). The
    watcher runs on the event loop (a change-counter read every POLL_SECONDS, a few microseconds); the
    merge runs in a worker thread on its own connection."""

    def __init__(
        self,
        path: str,
        *,
        quiet_seconds: float = QUIET_SECONDS,
        poll_seconds: float = POLL_SECONDS,
        max_segments: int = MAX_SEGMENTS,
        churn_share: float = CHURN_SHARE,
        churn_minimum: int = CHURN_MINIMUM,
    ) -> None:
        self.path = path
        self.quiet_seconds = quiet_seconds
        self.poll_seconds = poll_seconds
        self.max_segments = max_segments
        self.churn_share = churn_share
        self.churn_minimum = churn_minimum
        self.merges = 0  # merges run to the end (for tests and logs)
        # Dirty until a check finds the index compact: a server started on a fragmented file merges it too.
        self._dirty = True
        self._running = False
        self._closed = False
        self._changed_at = time.monotonic()
        self._version: int | None = None
        self._watch: sqlite3.Connection | None = None
        self._merger: sqlite3.Connection | None = None
        self._lock = threading.Lock()  # the merger connection: one merge at a time, none after close
        self._timer: asyncio.TimerHandle | None = None
        self._watch_failed = False

    @property
    def busy(self) -> bool:
        """Writes were seen since the index was last found compact, or a merge is running."""
        return self._dirty or self._running

    def start(self) -> None:
        """Start watching, on the running event loop."""
        if self._timer is None and not self._closed:
            self._timer = asyncio.get_running_loop().call_later(self.poll_seconds, self._tick)

    def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.poll_seconds, self._tick)
        try:
            if self._watch is None:
                self._watch = _connect(self.path)
            version = _data_version(self._watch)
        except sqlite3.Error:
            if not self._watch_failed:  # once, not every tick
                log.warning("search index watcher could not read the database", exc_info=True)
                self._watch_failed = True
            return
        now = time.monotonic()
        if version != self._version:
            self._version, self._changed_at, self._dirty = version, now, True
        elif self._dirty and not self._running and now - self._changed_at >= self.quiet_seconds:
            self._running = True
            loop.run_in_executor(None, self._merge, version)

    def _merge(self, version: int) -> None:
        """Merge until one segment is left, a write arrives, or the compactor closes (worker thread)."""
        finished = False
        try:
            with self._lock:
                if self._closed:
                    return
                if self._merger is None:
                    self._merger = _connect(self.path)
                connection = self._merger
                apply_step(connection)
                start = _data_version(connection)
                cancelled, count = churn(connection), segments(connection)
                if count <= 1 and cancelled:
                    # Merged by other means (FTS5's own merges, an 'optimize'): one segment cancels nothing.
                    forget_churn(connection, cancelled)
                if not self._worth_merging(connection, count, cancelled):
                    finished = True
                    return
                started = time.monotonic()
                while not self._closed and _data_version(connection) == start:
                    if not merge_step(connection):
                        forget_churn(connection, cancelled)
                        finished = True
                        self.merges += 1
                        log.info(
                            "search index merged into one segment in %.2f s (%d cancelled entries dropped)",
                            time.monotonic() - started,
                            cancelled,
                        )
                        break
        except sqlite3.Error as exc:
            # Not retried until the next writes: FTS5's own merging remains. A schema behind this code's (a
            # server started with auto-migrate off) is said in one line; the migration's commit is such a write.
            if missing_table(exc):
                log.warning(
                    "search index upkeep waits for the schema (%s): run `zcontacts db upgrade`",
                    first_line(exc),
                )
            else:
                log.warning("search index merge failed", exc_info=True)
            finished = True
        finally:
            # Compact only if nobody wrote since the watcher's last reading (its own merge commits are
            # writes too: the next quiet check finds the index compact and stops).
            if finished and self._version == version:
                self._dirty = False
            self._running = False

    def _worth_merging(self, connection: sqlite3.Connection, count: int, cancelled: int) -> bool:
        """More than max_segments segments (`count`), or (with two or more) enough cancelled entries to drop."""
        if count > self.max_segments:
            return True
        if count < 2 or cancelled < self.churn_minimum:
            return False
        return cancelled >= self.churn_share * indexed_rows(connection)

    def close(self) -> None:
        """Stop watching; a merge in progress stops after its current step."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        with self._lock:
            for connection in (self._watch, self._merger):
                if connection is not None:
                    connection.close()
            self._watch = self._merger = None
