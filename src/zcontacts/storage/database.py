"""The unit of work: every request's database work runs in one transaction that commits on success and rolls
back on any error. SQLite work runs inline (microseconds, no thread hop); PostgreSQL work runs in a worker
thread so network waits never block the event loop. At most as many threads run as the pool has connections,
so a burst waits on the event loop for a free connection rather than in a blocked thread."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TypeVar

import anyio
import anyio.to_thread
from sqlalchemy import Connection, Engine

from zcontacts.storage.engine import SQLITE_WRITE, is_sqlite, make_engine

T = TypeVar("T")
Work = Callable[[Connection], T]


class Database:
    """An engine plus the one place transactions begin and end."""

    def __init__(self, engine: Engine, *, connections: int = 20) -> None:
        self.engine = engine
        self.inline = is_sqlite(engine)
        self._threads = anyio.CapacityLimiter(max(1, connections))

    @classmethod
    def from_url(cls, url: str, *, pool_size: int = 10, max_overflow: int = 10) -> Database:
        """Open the database at `url`."""
        engine = make_engine(url, pool_size=pool_size, max_overflow=max_overflow)
        return cls(engine, connections=pool_size + max_overflow)

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
        return await anyio.to_thread.run_sync(partial(self.run, work, write=False), limiter=self._threads)

    async def write(self, work: Work[T]) -> T:
        """Run `work` in a write transaction: all of it commits, or none of it."""
        if self.inline:
            return self.run(work, write=True)
        return await anyio.to_thread.run_sync(partial(self.run, work, write=True), limiter=self._threads)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
