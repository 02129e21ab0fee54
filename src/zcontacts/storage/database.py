"""The unit of work: every request's database work runs in one transaction that commits on success and rolls
back on any error. SQLite work runs inline (microseconds, no thread hop); PostgreSQL work runs in a worker
thread so network waits never block the event loop.

SQLite's hottest reads (get one contact, one list page) also have a fast path, `reader()`: statements on a raw
driver connection kept per thread. A single SQLite statement reads one consistent snapshot, so it needs no
explicit transaction, and the driver keeps the statement prepared; this skips the pool checkout, BEGIN/COMMIT
and SQLAlchemy's per-execution work (measured in docs/PERFORMANCE.md)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any, TypeVar

import anyio.to_thread
from sqlalchemy import Connection, Engine
from sqlalchemy.pool import PoolProxiedConnection

from zcontacts.storage.engine import SQLITE_WRITE, is_sqlite, make_engine

T = TypeVar("T")
Work = Callable[[Connection], T]


class Database:
    """An engine plus the one place transactions begin and end."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.inline = is_sqlite(engine)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._readers: list[PoolProxiedConnection] = []

    @classmethod
    def from_url(cls, url: str, *, pool_size: int = 10, max_overflow: int = 10) -> Database:
        """Open the database at `url`."""
        return cls(make_engine(url, pool_size=pool_size, max_overflow=max_overflow))

    def run(self, work: Work[T], *, write: bool) -> T:
        """Run `work` in one transaction, synchronously."""
        with self.engine.connect() as connection:
            if write:
                connection.execution_options(**{SQLITE_WRITE: True})
            with connection.begin():
                return work(connection)

    async def read(self, work: Work[T]) -> T:
        """Run read-only `work` in a transaction."""
        if self.inline:
            return self.run(work, write=False)
        return await anyio.to_thread.run_sync(partial(self.run, work, write=False))

    async def write(self, work: Work[T]) -> T:
        """Run `work` in a write transaction: all of it commits, or none of it."""
        if self.inline:
            return self.run(work, write=True)
        return await anyio.to_thread.run_sync(partial(self.run, work, write=True))

    def reader(self) -> Reader:
        """This thread's reader for SQLite's hot reads (see Reader). SQLite only."""
        reader: Reader | None = getattr(self._local, "reader", None)
        if reader is None:
            # A pooled connection held for good: it carries the engine's connect-time pragmas.
            proxied = self.engine.raw_connection()
            with self._lock:
                self._readers.append(proxied)
            driver = proxied.driver_connection
            if not isinstance(driver, sqlite3.Connection):
                raise RuntimeError("Database.reader() serves SQLite only")
            reader = Reader(driver)
            self._local.reader = reader
        return reader

    def fetch(self, sql: str, parameters: Sequence[Any]) -> list[Any]:
        """Rows of one read-only SQLite statement on this thread's reader (see Reader.fetch)."""
        return self.reader().fetch(sql, parameters)

    def dispose(self) -> None:
        """Close every pooled connection (and the readers)."""
        with self._lock:
            readers, self._readers = self._readers, []
        for proxied in readers:
            proxied.invalidate()  # closes the driver connection instead of pooling it again
        self._local = threading.local()
        self.engine.dispose()


class Reader:
    """One thread's raw SQLite connection for hot reads, in autocommit mode: a single statement is its own
    consistent snapshot and sees every committed write. It also keeps facts derived from the data (where deep
    pages start), trusted only while the database is unchanged since they were found."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        self._version: int | None = None
        self._facts: dict[Any, Any] = {}

    def fetch(self, sql: str, parameters: Sequence[Any]) -> list[Any]:
        """Rows of one read-only statement (`?` parameters); the driver keeps it prepared between calls."""
        rows: list[Any] = self.connection.execute(sql, parameters).fetchall()
        return rows

    @contextmanager
    def snapshot(self) -> Iterator[dict[Any, Any]]:
        """One read transaction: every fetch inside reads the same snapshot. Yields the facts dict, emptied
        first if any connection has committed since it was filled (SQLite's data_version), so facts put in
        it describe this snapshot exactly."""
        self.connection.execute("BEGIN")
        try:
            # data_version is read inside the transaction, so it is the version of the snapshot held.
            (version,) = self.connection.execute("PRAGMA data_version").fetchone()
            if version != self._version or len(self._facts) > _MAX_FACTS:
                self._facts.clear()
                self._version = version
            yield self._facts
        finally:
            self.connection.execute("COMMIT")


_MAX_FACTS = 1024
