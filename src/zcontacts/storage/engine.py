"""make_engine(url): SQLite with WAL, foreign keys and explicit transactions, or a pooled PostgreSQL."""

from __future__ import annotations

import os
import sqlite3
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

from zcontacts.storage import wal_buffer as wal_buffer_module
from zcontacts.storage.postgres_pages import WALK_DEADLINE, WALK_DEADLINE_MS

SQLITE_WRITE = "zcontacts_write"
BUSY_TIMEOUT_MS = 5000
WAL_AUTOCHECKPOINT_PAGES = 10_000  # 40 MiB of 4 KiB pages


def normalize_url(url: str) -> URL:
    """Parse a database URL; plain postgresql:// means psycopg 3, the driver zcontacts ships."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def is_sqlite(engine: Engine) -> bool:
    """True for the embedded backend."""
    return engine.dialect.name == "sqlite"


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    pool_timeout: float = 10.0,
    walk_deadline_ms: int = WALK_DEADLINE_MS,
    wal_buffer: bool | None = None,
) -> Engine:
    """An engine for `url`, configured for zcontacts' access pattern. On PostgreSQL each process holds at most
    `pool_size + max_overflow` connections: replicas × workers × that must stay under max_connections, and a
    filtered list page walks for at most `walk_deadline_ms` (storage/postgres_pages.py).
    `wal_buffer` turns SQLite's WAL buffering on or off for the process (storage/wal_buffer.py); None leaves
    it as it is."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        if wal_buffer is not None:
            wal_buffer_module.configure(wal_buffer)
        return _sqlite_engine(parsed)
    engine = create_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        # A connection the server closed (restart, failover, idle timeout) is replaced before use, not failed on.
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args=_connect_args(parsed),
    )

    @event.listens_for(engine, "connect")
    def _on_connect(_dbapi_connection: Any, record: Any) -> None:
        record.info[WALK_DEADLINE] = walk_deadline_ms

    return engine


def probe_engine(engine: Engine) -> Engine:
    """An engine on `engine`'s PostgreSQL database that pools nothing: each use opens a connection of its own and
    closes it (health probes, when every pooled connection is busy)."""
    return create_engine(engine.url, poolclass=NullPool, connect_args=_connect_args(engine.url))


def _connect_args(url: URL) -> dict[str, Any]:
    """PostgreSQL's connection arguments: an unreachable server fails a request (and /readyz) within seconds
    instead of hanging it. Those the URL sets itself (?connect_timeout=…) win over these defaults."""
    chosen = {
        key: value for key, value in url.query.items() if key in ("connect_timeout", "application_name")
    }
    return {"connect_timeout": 5, "application_name": "zcontacts", **chosen}


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        directory = os.path.dirname(os.path.abspath(database))
        os.makedirs(directory, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver's implicit transactions are off: SQLAlchemy's begin event below emits BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # NORMAL in WAL mode survives process crashes; only a power loss can drop the last commits.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        # Servers checkpoint in the background (storage/database.py); SQLite's own checkpoint, inside whichever
        # commit crosses this many WAL pages, is the fallback.
        cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        cursor.close()

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_connection: Any, _record: Any) -> None:
        # A COMMIT that failed (disk full, a deferred constraint) leaves SQLite's transaction open while
        # SQLAlchemy counts it as ended and skips its reset: roll it back before the connection is reused.
        if dbapi_connection is not None and dbapi_connection.in_transaction:
            dbapi_connection.rollback()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.connection.driver_connection.in_transaction:
            return  # begun on the driver already (group commit takes the write lock itself, storage/database.py)
        # Writers take the write lock up front, so a read-modify-write never meets a stale snapshot.
        if connection.get_execution_options().get(SQLITE_WRITE):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")

    return engine


def first_line(error: BaseException | None) -> str:
    """The first line of an error's message (a driver's can run to many), or its class name when it has none."""
    text = "" if error is None else str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def missing_table(error: BaseException) -> bool:
    """Whether a statement failed on a table the database does not have yet (its schema is behind this code's):
    SQLite's "no such table", PostgreSQL's undefined_table (SQLSTATE 42P01)."""
    original = getattr(error, "orig", None) or error
    if isinstance(original, sqlite3.OperationalError):
        return str(original).startswith("no such table")
    return getattr(original, "sqlstate", None) == "42P01"
