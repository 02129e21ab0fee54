"""The unit of work: every request's database work runs in one transaction that commits on success and rolls
back on any error. SQLite work runs inline (microseconds, no thread hop); PostgreSQL work runs in a worker
thread so network waits never block the event loop. At most as many threads run as the pool has connections,
so a burst waits on the event loop for a free connection rather than in a blocked thread; a request that waits
there longer than the pool's timeout gets a 503 with Retry-After, as a pool checkout that timed out would.

SQLite writes made in the same turn of the event loop share one commit (group commit, `_Batch`): each runs
in its own savepoint of one write transaction, whose COMMIT runs once they have all run, and none of them is
answered before that commit. A write that fails rolls back to its savepoint and changes nothing; the others
still commit. What a commit costs (the WAL frames of every page it touched, the FTS5 segment it flushes) is
paid once per batch instead of once per request (docs/PERFORMANCE.md). When another process holds SQLite's
write lock (`serve --workers N`, a CLI import), a batch waits for it on the event loop, retrying every few
milliseconds, instead of in SQLite's busy handler, which would stop this process serving its reads too.

SQLite's hottest reads (get one contact, one list page) also have a fast path, `reader()`: statements on a raw
driver connection kept per thread. A single SQLite statement reads one consistent snapshot, so it needs no
explicit transaction, and the driver keeps the statement prepared; this skips the pool checkout, BEGIN/COMMIT
and SQLAlchemy's per-execution work (measured in docs/PERFORMANCE.md)."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import closing, contextmanager
from functools import partial
from typing import Any, Generic, NamedTuple, TypeVar

import anyio
import anyio.to_thread
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import PoolProxiedConnection

from zcontacts.errors import DatabaseUnavailable, ServiceBusy
from zcontacts.storage import wal_buffer
from zcontacts.storage.engine import (
    BUSY_TIMEOUT_MS,
    SQLITE_WRITE,
    first_line,
    is_sqlite,
    make_engine,
    probe_engine,
)
from zcontacts.storage.page_marks import MOVES_KEY, MarkLedger, Marks, Move
from zcontacts.storage.postgres_pages import WALK_DEADLINE_MS
from zcontacts.storage.search_index import APPLY_EVERY, IndexCompactor, apply_pending, apply_step

T = TypeVar("T")
Work = Callable[[Connection], T]
log = logging.getLogger("zcontacts")
# How long a write waits for another process's write lock: as long as SQLite's own busy_timeout.
BUSY_SECONDS = BUSY_TIMEOUT_MS / 1000
# The hot reads' page cache: a page of 200 rows over 1,000,000 customers touches ~450 pages, more than SQLite's
# 2 MiB default holds, so without it every request re-read its rows from the OS (1.1 ms vs 0.4 ms in SQLite).
READ_CACHE_MB = 32
# List pages a reader keeps, while no connection has written, per thread (MiB of stored rows; Reader.remembered).
PAGE_MEMO_MB = 16
CHECKPOINT_EVERY = 64  # writes between background checkpoints (at most ~40 WAL pages each)


# Database files this process syncs itself, each with a descriptor kept open for good (see sync_database_file).
_SYNCED: dict[str, int] = {}
_SYNCED_LOCK = threading.Lock()


def sync_database_file(path: str) -> None:
    """Flush what checkpoints wrote into the database file to disk (fdatasync), off the event loop.

    SQLite syncs the database file only when a checkpoint leaves nothing of the WAL uncopied. Under steady
    writes a passive checkpoint never does (more frames are committed while it copies), so its page writes pile
    up in the OS cache until a commit takes the WAL past wal_autocheckpoint and SQLite's own checkpoint, inside
    that commit on the event loop, finishes and syncs them all: 60-80 ms every ~1,800 updates over 1,000,000
    customers (session 12, docs/PERFORMANCE.md). Syncing after each passive checkpoint keeps that sync short.

    The descriptor is never closed: closing any descriptor of a file drops every POSIX lock this process holds
    on it, SQLite's included, which other processes rely on."""
    with _SYNCED_LOCK:
        descriptor = _SYNCED.get(path)
        if descriptor is None:
            try:
                descriptor = _SYNCED[path] = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            except OSError:
                log.warning("cannot open %s to sync it; SQLite's own syncs remain", path, exc_info=True)
                _SYNCED[path] = -1
                return
    if descriptor < 0:
        return
    try:
        getattr(os, "fdatasync", os.fsync)(descriptor)
    except OSError:  # e.g. a platform that syncs only writable descriptors: SQLite's own syncs remain
        log.warning("could not sync %s; SQLite's own syncs remain", path, exc_info=True)
        with _SYNCED_LOCK:
            _SYNCED[path] = -1


class Database:
    """An engine plus the one place transactions begin and end."""

    def __init__(
        self,
        engine: Engine,
        *,
        connections: int = 20,
        pool_timeout: float = 10.0,
        group_commit: bool = True,
        read_cache_mb: int = READ_CACHE_MB,
        page_memo_mb: int = PAGE_MEMO_MB,
        compact_search_index: bool = True,
    ) -> None:
        self.engine = engine
        self._read_cache_kib = max(0, read_cache_mb) * 1024
        self._page_memo_bytes = max(0, page_memo_mb) * 1024 * 1024
        self.inline = is_sqlite(engine)
        # A slot per pooled connection, taken before a thread: waiting for one is waiting for a connection.
        self._slots = anyio.CapacityLimiter(max(1, connections))
        self._pool_timeout = pool_timeout
        # The threads themselves: never more than the slots held, so never waited for.
        self._threads = anyio.CapacityLimiter(math.inf)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._readers: list[PoolProxiedConnection] = []
        self._reader_objects: list[Reader] = []
        # Readers running a scan on a scan thread (scan_reader), which dispose stops before closing them.
        self._scanning: set[Reader] = set()
        self._scans_ended = threading.Condition(self._lock)
        self._closing = False
        self._disposals = 0  # dispose calls ended so far
        database = engine.url.database or ""
        # Background checkpoints need a file (an in-memory database has no WAL).
        self._file = (
            database
            if self.inline and database not in ("", ":memory:") and not database.startswith("file:")
            else None
        )
        self._writes = 0
        # Writes since this process last moved the trigram queue into the index (storage/search_index.py).
        self._unapplied = 0
        self._checkpointing = False
        self._checkpointer: sqlite3.Connection | None = None
        # Only for a file: an in-memory database's pool hands a thread the same connection every time.
        self._group_commit = group_commit and self._file is not None
        self._batch: _Batch | None = None
        # PostgreSQL: health probes' own connections, when every pooled one is busy (see probe).
        self._probe_engine: Engine | None = None
        # The connection batches run on, kept between them (see _writer_connection).
        self._writer: Connection | None = None
        # Deep-page marks kept across this process's batches (storage/page_marks.py).
        self.marks = MarkLedger(self._writer_version) if self._group_commit else None
        # Merges the trigram index when writes are quiet (storage/search_index.py); a server starts it.
        self.compactor = (
            IndexCompactor(self._file) if compact_search_index and self._file is not None else None
        )

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        pool_size: int = 10,
        max_overflow: int = 10,
        pool_timeout: float = 10.0,
        walk_deadline_ms: int = WALK_DEADLINE_MS,
        group_commit: bool = True,
        read_cache_mb: int = READ_CACHE_MB,
        page_memo_mb: int = PAGE_MEMO_MB,
        compact_search_index: bool = True,
        wal_buffer: bool | None = None,
    ) -> Database:
        """Open the database at `url` (`walk_deadline_ms`, `wal_buffer`: see make_engine)."""
        engine = make_engine(
            url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            walk_deadline_ms=walk_deadline_ms,
            wal_buffer=wal_buffer,
        )
        return cls(
            engine,
            connections=pool_size + max_overflow,
            pool_timeout=pool_timeout,
            group_commit=group_commit,
            read_cache_mb=read_cache_mb,
            page_memo_mb=page_memo_mb,
            compact_search_index=compact_search_index,
        )

    def run(self, work: Work[T], *, write: bool) -> T:
        """Run `work` in one transaction, synchronously. Overload (no pooled connection free in time, or
        SQLite's write lock still held after busy_timeout) is a 503 with Retry-After, not a 500: the client
        did nothing wrong and a retry will succeed."""
        with self._overload_as_busy():
            with self._connect() as connection:
                if write:
                    connection.execution_options(**{SQLITE_WRITE: True})
                with connection.begin():
                    result = work(connection)
                    if write and self.inline:
                        # A write outside group commit (the CLI, imports, no event loop) leaves no queue behind.
                        apply_pending(_driver(connection))
                    return result

    def _connect(self, engine: Engine | None = None) -> Connection:
        """A pooled connection (or one of `engine`'s); a PostgreSQL server that refuses one is a 503 with
        Retry-After, not a 500."""
        try:
            return (engine or self.engine).connect()
        except OperationalError as exc:
            if self.inline:
                raise
            log.warning("database unreachable: answering 503: %s", first_line(exc.orig))
            raise DatabaseUnavailable() from None

    @contextmanager
    def _overload_as_busy(self) -> Iterator[None]:
        try:
            yield
        except PoolTimeout:
            raise _pool_exhausted() from None
        except OperationalError as exc:
            if self.inline and _sqlite_busy(exc):
                log.warning("SQLite write lock busy past busy_timeout: answering 503")
                raise ServiceBusy() from None
            raise

    async def read(self, work: Work[T]) -> T:
        """Run read-only `work` in a transaction."""
        if self.inline:
            return self.run(work, write=False)
        return await self._in_thread(work, write=False)

    async def probe(self, work: Work[T]) -> T:
        """Run read-only `work` for a health probe, at once. PostgreSQL with no pooled connection free: on a
        connection of its own, opened and closed for it, not after a wait for the pool. A replica busy serving
        is still ready; a probe failing for load alone would take every busy replica out of service at once."""
        if self.inline:
            return await self.read(work)
        try:
            self._slots.acquire_nowait()
        except anyio.WouldBlock:
            return await anyio.to_thread.run_sync(partial(self._run_alone, work))
        try:
            return await anyio.to_thread.run_sync(partial(self.run, work, write=False), limiter=self._threads)
        finally:
            self._slots.release()

    def _run_alone(self, work: Work[T]) -> T:
        with self._lock:
            if self._probe_engine is None:
                self._probe_engine = probe_engine(self.engine)
            engine = self._probe_engine
        with self._connect(engine) as connection, connection.begin():
            return work(connection)

    async def write(self, work: Work[T]) -> T:
        """Run `work` in a write transaction: all of it commits, or none of it. Returns once it has committed."""
        if not self.inline:
            return await self._in_thread(work, write=True)
        if not self._group_commit:
            try:
                return self.run(work, write=True)
            finally:
                self._after_write()
        loop = asyncio.get_running_loop()
        batch = self._batch
        if batch is None:
            batch = _Batch(self._writer_connection(), self.marks)
            try:
                begun = batch.try_begin()
            except BaseException:  # no batch is left open for later writes to join
                batch.failed = True
                self._end(batch)
                raise
            if not begun:
                # Another process holds the write lock: wait for it on the event loop, not in SQLite's
                # busy handler, which would stop this process serving anyone while it sleeps.
                batch.acquiring = loop.create_task(self._acquire(batch))
            self._batch = batch
        if not batch.begun:
            ready = loop.create_future()
            batch.ready.append(ready)
            await ready
        if not batch.commit_scheduled:
            # After every write already woken or arriving in this loop turn: they all share the commit.
            batch.commit_scheduled = True
            loop.call_soon(self._commit, batch)
        with self._overload_as_busy():
            result = batch.run(work)
        self._after_write()
        committed = loop.create_future()
        batch.waiters.append(committed)
        await committed
        return result

    async def _in_thread(self, work: Work[T], *, write: bool) -> T:
        """`run` in a worker thread once a connection's slot is free; ServiceBusy (503) when none is free within
        the pool timeout. The wait is here, on the event loop, so the pool's own timeout would never fire."""
        try:
            self._slots.acquire_nowait()
        except anyio.WouldBlock:
            try:
                with anyio.fail_after(self._pool_timeout):
                    await self._slots.acquire()  # cancelled while waiting, it takes no slot
            except TimeoutError:
                raise _pool_exhausted() from None
        try:
            return await anyio.to_thread.run_sync(partial(self.run, work, write=write), limiter=self._threads)
        finally:
            self._slots.release()

    async def _acquire(self, batch: _Batch) -> None:
        """Take the write lock for `batch`, retrying while another process holds it; after BUSY_SECONDS its
        writes get a 503 with Retry-After (as SQLite's own busy_timeout gave)."""
        deadline = asyncio.get_running_loop().time() + BUSY_SECONDS
        delay = 0.0005
        failure: Exception | None = None
        try:
            while not batch.try_begin():
                if asyncio.get_running_loop().time() > deadline:
                    log.warning("SQLite write lock busy for %s s: answering 503", BUSY_SECONDS)
                    raise ServiceBusy()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.008)
        except Exception as exc:  # every waiting write gets the failure
            failure = exc
            self._batch = None
            self._end(batch)
        for ready in batch.ready:
            if ready.done():
                continue
            if failure is None:
                ready.set_result(None)
            else:
                ready.set_exception(failure)
        if failure is None:
            # Queued after the wake-ups just given, so the waiting writes run first and share it; queued even
            # if every one of them was cancelled meanwhile, so the lock is never kept by nobody.
            batch.commit_scheduled = True
            asyncio.get_running_loop().call_soon(self._commit, batch)

    def _commit(self, batch: _Batch) -> None:
        """Commit the batch every write of this loop turn joined; then answer them all (or fail them all)."""
        self._batch = None
        failure: Exception | None = None
        try:
            with self._overload_as_busy():
                try:
                    if self._unapplied >= APPLY_EVERY:
                        self._unapplied = 0
                        batch.apply_pending()
                    batch.transaction.commit()
                finally:
                    self._end(batch)
        except Exception as exc:  # every waiter gets the failure; none of the batch's writes is kept
            log.warning("group commit failed: its writes are rolled back", exc_info=True)
            failure = exc
            if self.marks is not None:
                self.marks.drop()
        else:
            if self.marks is not None:
                self.marks.committed(batch.tracked, batch.moves)
        for waiter in batch.waiters:
            if waiter.done():  # its request was cancelled while it waited
                continue
            if failure is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(failure)

    def _writer_connection(self) -> Connection:
        """The connection group-commit batches run on: one at a time (one event loop), so one connection, kept
        open between batches. A pool checkout and return per batch cost more than its BEGIN and COMMIT (py-spy
        on a served create at one connection: 5 % of the server's time). Its savepoint journals stay in memory
        (temp_store=MEMORY): a statement that fires triggers, and every savepoint, keeps a sub-journal of the
        pages it changes, and past 64 KiB (one write's ~20 pages) SQLite moves it into a temporary file, an open,
        an unlink, a dozen writes and a close per write (~110 µs). Only this connection, which holds one loop
        turn's writes at a time: a CLI reset of a million customers, on a pooled one, would journal gigabytes."""
        if self._writer is None or self._writer.closed or self._writer.invalidated:
            if self.marks is not None:
                # A new connection counts data_version afresh: nothing kept can be vouched for by it.
                self.marks.drop()
                self.marks.thread = threading.get_ident()
            with self._overload_as_busy():
                connection = self.engine.connect()
            try:
                _driver(connection).execute("PRAGMA temp_store=MEMORY")
            except BaseException:
                connection.invalidate()
                connection.close()
                raise
            self._writer = connection
        return self._writer

    def _writer_version(self) -> int | None:
        """The writer connection's data_version: it changes only when another connection commits."""
        try:
            driver = _driver(self._writer_connection())
            (version,) = driver.execute("PRAGMA data_version").fetchone()
        except Exception:  # no writer now: nothing kept is trusted (see MarkLedger.listing)
            log.debug("no writer data_version", exc_info=True)
            return None
        return int(version)

    def _end(self, batch: _Batch) -> None:
        """The batch is over: its connection serves the next one, unless it could not be left clean."""
        if not batch.end() and self._writer is batch.connection:
            self._writer = None
            if not batch.connection.closed:
                batch.connection.invalidate()
                batch.connection.close()

    # ---- WAL checkpoints off the request path (SQLite) -----------------------------------------------------
    # SQLite copies the WAL back into the database file (a checkpoint, with fsync) inside whichever commit
    # crosses wal_autocheckpoint pages: at its default of 1,000, about one request in 25 paid ~20 ms. Every
    # CHECKPOINT_EVERY writes, a passive checkpoint runs in a worker thread on its own connection instead, so
    # the WAL stays far below the threshold (10,000 pages here, storage/engine.py) and commits stay short.
    # Fewer, larger checkpoints copy a page written many times once (64 writes: +20 % served creates over 8).
    # Passive checkpoints never block readers or writers; durability is unchanged (the WAL is the same; only
    # where the copy runs differs).

    def _after_write(self) -> None:
        self._unapplied += 1
        self._writes += 1
        if self._writes < CHECKPOINT_EVERY or self._checkpointing or self._file is None:
            return
        self._writes = 0
        self._checkpointing = True
        try:
            asyncio.get_running_loop().run_in_executor(None, self._checkpoint)
        except RuntimeError:  # no event loop (synchronous use): SQLite's own checkpoints remain
            self._checkpointing = False

    def _checkpoint(self) -> None:
        try:
            with self._lock:
                if self._checkpointer is None and self._file is not None:
                    self._checkpointer = sqlite3.connect(self._file, timeout=5, check_same_thread=False)
                if self._checkpointer is not None and self._file is not None:
                    _, _, copied = self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    if copied > 0:
                        sync_database_file(self._file)
        except sqlite3.Error:
            log.warning("background WAL checkpoint failed; SQLite's own checkpoints remain", exc_info=True)
        finally:
            self._checkpointing = False

    def reader(self, *, lean: bool = False) -> Reader:
        """This thread's reader for SQLite's hot reads (see Reader). SQLite only. `lean` (for a thread that only
        scans, made so on its first call): SQLite's small default page cache and no page memo, so the scan
        threads do not each hold another read cache and memo."""
        reader: Reader | None = getattr(self._local, "reader", None)
        if reader is None:
            # A pooled connection held for good: it carries the engine's connect-time pragmas.
            proxied = self.engine.raw_connection()
            with self._lock:
                self._readers.append(proxied)
            driver = proxied.driver_connection
            if not isinstance(driver, sqlite3.Connection):
                raise RuntimeError("Database.reader() serves SQLite only")
            if self._read_cache_kib and not lean:
                driver.execute(f"PRAGMA cache_size=-{self._read_cache_kib}")
            reader = Reader(driver, memo_bytes=0 if lean else self._page_memo_bytes, ledger=self.marks)
            with self._lock:
                self._reader_objects.append(reader)
            self._local.reader = reader
        return reader

    @contextmanager
    def scan_reader(self) -> Iterator[Reader]:
        """This scan thread's lean reader (see reader) for one scan that dispose may stop. A scan can outlive
        its request (a server's graceful shutdown cancels a request after its timeout, not the thread under
        it); dispose interrupts it and waits, rather than close the connection under a running statement.
        A scan stopped so, or begun while dispose runs, is ServiceBusy (503, retry)."""
        with self._lock:
            if self._closing:
                raise ServiceBusy()
            disposals = self._disposals
        reader = self.reader(lean=True)
        with self._lock:
            # A dispose that began meanwhile closes (or has closed) this reader: do not use it.
            if self._closing or disposals != self._disposals:
                raise ServiceBusy()
            self._scanning.add(reader)
        try:
            yield reader
        except sqlite3.OperationalError as exc:
            if self._closing and str(exc) == "interrupted":
                raise ServiceBusy() from None
            raise
        finally:
            with self._scans_ended:
                self._scanning.discard(reader)
                self._scans_ended.notify_all()

    def _stop_scans(self, seconds: float = BUSY_SECONDS) -> None:
        """Interrupt every scan under way and wait (up to `seconds`) until each has let go of its reader. The
        interrupt is repeated: a walk that overran is followed by another statement (contacts._planned_page)."""
        deadline = time.monotonic() + seconds
        with self._scans_ended:
            self._closing = True
            while self._scanning and time.monotonic() < deadline:
                for reader in self._scanning:
                    reader.connection.interrupt()
                self._scans_ended.wait(0.05)
            if self._scanning:
                log.warning("%d scans still running at shutdown; closing their readers", len(self._scanning))

    def reader_count(self) -> int:
        """How many per-thread SQLite readers are open (for /metrics)."""
        return len(self._readers)

    def memo_stats(self) -> MemoStats:
        """The list-page memo of every reader, summed (for /metrics)."""
        with self._lock:
            stats = [reader.memo_stats for reader in self._reader_objects]
        return MemoStats(*(sum(column) for column in zip(*stats, strict=True))) if stats else MemoStats()

    def fetch(self, sql: str, parameters: Sequence[Any]) -> list[Any]:
        """Rows of one read-only SQLite statement on this thread's reader (see Reader.fetch)."""
        return self.reader().fetch(sql, parameters)

    def start_background(self) -> None:
        """Start the background upkeep a server runs, on the running event loop (SQLite files: the search
        index compactor). WAL checkpoints need no start: writes schedule them."""
        if self.compactor is not None:
            self.compactor.start()
        if self.marks is not None:
            self.marks.thread = threading.get_ident()

    def dispose(self) -> None:
        """Close every pooled connection (and the readers), stopping background upkeep; what this process left
        in the trigram queue goes into the index first, so a stopped server leaves it complete."""
        self._stop_scans()
        if self.compactor is not None:
            self.compactor.close()
        if self._unapplied and self._file is not None:
            self._unapplied = 0
            try:
                with closing(sqlite3.connect(self._file, timeout=BUSY_SECONDS)) as connection:
                    connection.isolation_level = None
                    apply_step(connection)
            except sqlite3.Error:
                log.warning(
                    "could not apply the trigram queue at shutdown; the next server will", exc_info=True
                )
        if self._probe_engine is not None:
            self._probe_engine.dispose()
        if self._writer is not None:
            self._writer.invalidate()  # closed, not pooled with its temp_store
            self._writer.close()
            self._writer = None
        with self._lock:
            readers, self._readers = self._readers, []
            self._reader_objects = []
            if self._checkpointer is not None:
                self._checkpointer.close()
                self._checkpointer = None
        for proxied in readers:
            proxied.invalidate()  # closes the driver connection instead of pooling it again
        self._local = threading.local()
        self.engine.dispose()
        with self._lock:
            self._closing = False  # a Database may be used again after dispose, as its engine may
            self._disposals += 1


class _Batch:
    """One SQLite write transaction that the writes of one event-loop turn join, each in a savepoint."""

    def __init__(self, connection: Connection, ledger: MarkLedger | None = None) -> None:
        self.connection = connection
        self.driver = _driver(connection)
        self.ledger = ledger
        self.tracked = False  # its writes say how they move contacts in listings (storage/page_marks.py)
        self.moves: list[Move | None] = []
        self.failed = False
        self.begun = False
        self.commit_scheduled = False
        self.ready: list[asyncio.Future[None]] = []  # writes waiting for the write lock
        self.acquiring: asyncio.Task[None] | None = None
        self.waiters: list[asyncio.Future[None]] = []  # writes waiting for the commit

    def try_begin(self) -> bool:
        """Take the write lock if it is free now (BEGIN IMMEDIATE with no busy wait); False if another
        process holds it. SQLAlchemy's transaction then wraps the one SQLite has begun."""
        try:
            self.driver.execute("PRAGMA busy_timeout=0")
            try:
                self.driver.execute("BEGIN IMMEDIATE")
            finally:
                self.driver.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc).lower() or "busy" in str(exc).lower():
                return False
            self.failed = True
            raise
        self.transaction = self.connection.begin()
        self.begun = True
        ledger = self.ledger
        if ledger is not None and ledger.active:
            (version,) = self.driver.execute("PRAGMA data_version").fetchone()
            self.tracked = ledger.begin(version)
        return True

    def end(self) -> bool:
        """Leave the connection as the next batch needs it: no transaction open (a COMMIT that failed leaves
        SQLite's open while SQLAlchemy counts it ended). False when that cannot be vouched for."""
        if self.failed or (self.begun and self.transaction.is_active):
            return False
        try:
            if self.driver.in_transaction:
                self.driver.rollback()
                return False  # SQLAlchemy's view of a failed commit is not worth trusting again
        except sqlite3.Error:
            return False
        return True

    def apply_pending(self) -> None:
        """Move the trigram queue into the index as part of this batch, in a savepoint: should it fail, the
        batch's writes still commit and the queue waits for the next try (searches read it meanwhile)."""
        self.driver.execute("SAVEPOINT apply")
        try:
            apply_pending(self.driver)
        except sqlite3.Error:
            log.warning("could not apply the trigram queue; it stays queued", exc_info=True)
            self.driver.execute("ROLLBACK TO apply")  # if even this fails, the batch fails as a whole
        self.driver.execute("RELEASE apply")

    def run(self, work: Work[T]) -> T:
        """Run `work` in a savepoint: if it raises, what it wrote is undone and the batch goes on. The
        savepoint is SQL on the driver (SQLAlchemy's begin_nested compiles its clause on every call)."""
        self.driver.execute("SAVEPOINT write")
        moves: list[Move | None] | None = [] if self.tracked else None
        if moves is not None:
            self.connection.info[MOVES_KEY] = moves
        try:
            result = work(self.connection)
        except BaseException:
            self.driver.execute("ROLLBACK TO write")
            self.driver.execute("RELEASE write")
            raise
        finally:
            if moves is not None:
                del self.connection.info[MOVES_KEY]
        self.driver.execute("RELEASE write")
        if moves:
            self.moves += moves
        return result


def _driver(connection: Connection) -> sqlite3.Connection:
    """The sqlite3 connection under a SQLAlchemy one."""
    driver = connection.connection.driver_connection
    if not isinstance(driver, sqlite3.Connection):
        raise RuntimeError("group commit and the trigram queue serve SQLite only")
    return driver


def _pool_exhausted() -> ServiceBusy:
    log.warning("database pool exhausted: answering 503 (raise ZCONTACTS_POOL_SIZE?)")
    return ServiceBusy()


def _sqlite_busy(exc: OperationalError) -> bool:
    """SQLite's "database is locked" / "database is busy": contention, not a fault."""
    text = str(exc.orig).lower()
    return "database is locked" in text or "database is busy" in text


# How often a read under a deadline looks at the clock: every 1,000 SQLite VM steps (a few µs of work each time).
DEADLINE_STEPS = 1000
# Listings whose search walk overran, remembered per reader (Reader.uneven), each for UNEVEN_SECONDS (a hint
# judged on a busy machine is judged again), or COLD_UNEVEN_SECONDS when the walk found the cache cold (see within).
UNEVEN_KEPT = 256
UNEVEN_SECONDS = 120.0
COLD_UNEVEN_SECONDS = 5.0
# Counts that only choose a plan (Reader.estimate) are kept this long across commits, for the ESTIMATES_KEPT seen
# last: every commit by another connection empties SQLite's page cache, and counting again cost 1-2 ms.
ESTIMATE_SECONDS = 30.0
ESTIMATES_KEPT = 1024


V = TypeVar("V")


class _Kept(Generic[V]):
    """Values each kept until a time of its own, for the `bound` put last (the oldest go first): hints and
    estimates a reader keeps across commits, which may go stale at the cost of time, never of an answer."""

    def __init__(self) -> None:
        self._items: dict[Hashable, tuple[float, V]] = {}  # key: (until, value), the oldest first

    def get(self, key: Hashable) -> V | None:
        found = self._items.get(key)
        if found is None:
            return None
        if time.monotonic() < found[0]:
            return found[1]
        del self._items[key]
        return None

    def put(self, key: Hashable, value: V, seconds: float, bound: int) -> None:
        self._items.pop(key, None)
        self._items[key] = (time.monotonic() + seconds, value)
        if len(self._items) > bound:
            del self._items[next(iter(self._items))]


def storage_reads() -> int | None:
    """Bytes the calling thread has had read from storage (Linux's per-task I/O accounting: page-cache misses), or
    None where the system does not say."""
    try:
        with open("/proc/thread-self/io", "rb") as accounting:
            text = accounting.read()
        start = text.index(b"read_bytes: ") + 12
        return int(text[start : text.index(b"\n", start)])
    except (OSError, ValueError):
        return None


class Reader:
    """One thread's raw SQLite connection for hot reads, in autocommit mode: a single statement is its own
    consistent snapshot and sees every committed write. It also keeps what it derived from the data (where deep
    pages start, whole list pages), trusted only while the database is unchanged since it was found."""

    def __init__(
        self, connection: sqlite3.Connection, *, memo_bytes: int = 0, ledger: MarkLedger | None = None
    ) -> None:
        self.connection = connection
        self._ledger = ledger
        # The writer's data_version read just before and just after this snapshot began (see listing_marks).
        self._writer_versions: tuple[int | None, int | None] | None = None
        self._version: int | None = None
        self._facts: dict[Any, Any] = {}
        self._memo: dict[Hashable, tuple[bytes, ...]] = {}
        self._memo_used = 0
        self._memo_budget = memo_bytes
        self._hits = self._misses = 0
        self._uneven: _Kept[bool] = _Kept()
        self._estimates: _Kept[int] = _Kept()
        # Whether the last read `within` stopped found the page cache cold (see within).
        self._stopped_cold = False

    def fetch(self, sql: str, parameters: Sequence[Any]) -> list[Any]:
        """Rows of one read-only statement (`?` parameters); the driver keeps it prepared between calls."""
        rows: list[Any] = self.connection.execute(sql, parameters).fetchall()
        return rows

    def uneven(self, listing: Hashable) -> bool:
        """Whether a walk of `listing` ran past its deadline lately (UNEVEN_SECONDS; COLD_UNEVEN_SECONDS when it
        found the page cache cold, see mark_overrun; storage/substring_plans.py): its term's rows sit together
        somewhere along the order, so the next page is read the trigram way at once. Also a plan found not to serve
        a listing (a common short term, a prefix with no email band). A hint kept across writes (a stale one costs
        time, never an answer), for the UNEVEN_KEPT listings seen last."""
        return self._uneven.get(listing) is not None

    def mark_uneven(self, listing: Hashable, seconds: float | None = None) -> None:
        """Remember for `seconds` (UNEVEN_SECONDS) that a walk of `listing` ran past its deadline, or another hint
        (see `uneven`)."""
        self._uneven.put(listing, True, UNEVEN_SECONDS if seconds is None else seconds, UNEVEN_KEPT)

    def estimate(self, key: Hashable, count: Callable[[], int]) -> int:
        """What `count` returns, kept under `key` for ESTIMATE_SECONDS across commits (for the ESTIMATES_KEPT seen
        last): for counts that only choose a plan (a walk plan's matches, a status's rows), never one a page's
        rows depend on. A stale count costs time, never an answer: a walk chosen wrongly overruns its budget and
        the other plan reads the page."""
        found = self._estimates.get(key)
        if found is not None:
            return found
        value = count()
        self._estimates.put(key, value, ESTIMATE_SECONDS, ESTIMATES_KEPT)
        return value

    def mark_overrun(self, listing: Hashable) -> None:
        """Remember that the last read `within` stopped, a walk of `listing`, ran past its deadline: briefly when
        it found the page cache cold (see within)."""
        self.mark_uneven(listing, COLD_UNEVEN_SECONDS if self._stopped_cold else None)

    def within(self, seconds: float, read: Callable[[], T]) -> T | None:
        """What `read` returns (it reads through this reader), or None when its statements ran past `seconds`:
        SQLite stops them (a progress handler every DEADLINE_STEPS VM steps), ending any read transaction (one
        `read` began is rolled back here; a caller's, SQLite rolls back itself).

        A read stopped while pages came from storage, or after waiting on SQLite's page reads (its cache's misses,
        timed by the WAL shim where it is SQLite's VFS) for more than half its budget, says how warm the cache was
        more than where a listing's rows sit, so `mark_overrun` keeps that hint for seconds only. Over 1,000,000
        customers an audit on a cold cache stopped 122 walks, 108 of them on storage reads, where a warm one
        stopped 41; kept as long as the others, such a hint had a listing read the slow way for the reader's life
        (`search_text=ivan` by company, 4 -> ~90 ms). Page reads need not come from storage to be slow: on a
        machine whose memory is touched cold (36-54 µs per 4 KiB read of the file, with no storage read counted),
        `phone_startswith=+1-2` by email walked in 13 ms on its first read, 10 of them in page reads, against a
        7 ms budget, and in 0.7 ms after; stopped and judged warm, its listing was sorted (25 ms) for 120 s.
        The deadline itself stays wall time: not charging those waits let cold walks whose rows sit together run
        on, and first reads cost more (docs/PERFORMANCE.md, "Measured in session 38")."""
        deadline = time.perf_counter() + seconds
        waits = wal_buffer.read_clock()
        waited = waits() if waits is not None else 0.0
        reads = storage_reads()
        self._stopped_cold = False
        # A caller's snapshot: SQLite ends it itself if a statement is stopped.
        outer = self.connection.in_transaction
        self.connection.set_progress_handler(lambda: time.perf_counter() > deadline, DEADLINE_STEPS)
        try:
            return read()
        except sqlite3.OperationalError as exc:
            if str(exc) != "interrupted":
                raise
            after = storage_reads()
            on_storage = reads is not None and after is not None and after > reads
            waiting = waits is not None and waits() - waited > seconds / 2
            self._stopped_cold = on_storage or waiting
            return None
        finally:
            self.connection.set_progress_handler(None, 0)
            if self.connection.in_transaction and not outer:  # a snapshot `read` began and could not end
                self.connection.execute("ROLLBACK")

    @contextmanager
    def snapshot(self, *, marks: bool = False) -> Iterator[dict[Any, Any]]:
        """One read transaction: every fetch inside reads the same snapshot. Yields the facts dict, emptied
        first if any connection has committed since it was filled (SQLite's data_version), so facts put in
        it describe this snapshot exactly. Inside another snapshot, it is that one. `marks`: the snapshot
        may use deep-page marks kept across writes (listing_marks)."""
        if self.connection.in_transaction:
            yield self._facts
            return
        ledger = self._ledger if marks and self._ledger is not None and self._ledger.usable() else None
        before = ledger.writer_version() if ledger is not None else None
        self.connection.execute("BEGIN")
        try:
            # data_version is read inside the transaction, so it is the version of the snapshot held.
            (version,) = self.connection.execute("PRAGMA data_version").fetchone()
            if version != self._version or len(self._facts) > _MAX_FACTS:
                self._forget(version)
            if ledger is not None:
                self._writer_versions = (before, ledger.writer_version())
            yield self._facts
        finally:
            self._writer_versions = None
            if self.connection.in_transaction:  # a statement stopped by `within` ends it (SQLITE_INTERRUPT)
                self.connection.execute("COMMIT")

    def listing_marks(self, key: Hashable, new: Callable[[int], Marks]) -> Marks | None:
        """The deep-page marks of listing `key` kept across this process's writes, exact for this snapshot
        (storage/page_marks.py); None outside a `snapshot(marks=True)` or when they cannot be vouched for."""
        versions = self._writer_versions
        if versions is None or self._ledger is None:
            return None
        return self._ledger.listing(key, *versions, new)

    def remembered(
        self, key: Hashable, read: Callable[[], list[bytes]], *, marks: bool = False
    ) -> list[bytes]:
        """The rows `read` returns (it reads through this reader), kept under `key` and handed out again, with
        no SQL but SQLite's data_version, until any connection commits. A list page served again and again
        costs a dictionary lookup instead of its statement (200 rows: ~180 µs over 1,000,000 customers)."""
        if not self._memo_budget:
            return read()
        # One statement, its own read transaction: unchanged since the memo was filled means what it holds is
        # what `read` would return now. An empty memo has nothing to check.
        version: int | None = None
        if self._memo:
            (version,) = self.connection.execute("PRAGMA data_version").fetchone()
            if version == self._version:
                found = self._memo.get(key)
                if found is not None:
                    self._hits += 1
                    return list(found)
        self._misses += 1
        if marks:  # a deep page reads in several statements: one snapshot for them all
            with self.snapshot(marks=True):
                rows = read()
                self._remember(key, rows)
            return rows
        # A page is one statement, its own snapshot: the same data_version before and after it says no
        # connection committed in between, so the rows are that version's (two statements fewer than BEGIN,
        # data_version, COMMIT around it).
        if version is None:
            (version,) = self.connection.execute("PRAGMA data_version").fetchone()
        rows = read()
        (after,) = self.connection.execute("PRAGMA data_version").fetchone()
        if after == version:
            if version != self._version:
                self._forget(version)
            self._remember(key, rows)
        return rows

    def _remember(self, key: Hashable, rows: list[bytes]) -> None:
        size = memo_size(rows)
        if size > self._memo_budget // 8:  # no page crowds out the rest
            return
        while self._memo and self._memo_used + size > self._memo_budget:
            oldest = next(iter(self._memo))
            self._memo_used -= memo_size(self._memo.pop(oldest))
        self._memo[key] = tuple(rows)
        self._memo_used += size

    @property
    def memo_stats(self) -> MemoStats:
        """What the list-page memo holds and how often it answered."""
        return MemoStats(len(self._memo), self._memo_used, self._hits, self._misses)

    def _forget(self, version: int) -> None:
        self._facts.clear()
        self._memo.clear()
        self._memo_used = 0
        self._version = version


class MemoStats(NamedTuple):
    """A list-page memo: pages and bytes it holds, requests it answered and those it had to read."""

    pages: int = 0
    size: int = 0
    hits: int = 0
    misses: int = 0


def memo_size(rows: Sequence[bytes]) -> int:
    """What a kept page counts against the memo's budget."""
    return sum(map(len, rows)) + _ROW_OVERHEAD * (len(rows) + 1)


# What a kept row costs beyond its bytes (a bytes object's header, the tuple's slot), for the memo's budget.
_ROW_OVERHEAD = 40
_MAX_FACTS = 1024
