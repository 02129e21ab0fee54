"""The database servers the suite runs against besides SQLite: a PostgreSQL server handing each test a fresh
database copied from one migrated template, and a Redis server for the shared rate limit. Both are optional:
when absent, the tests that need them are skipped, saying where they looked."""

from __future__ import annotations

import itertools
import os
import queue
import threading
from dataclasses import dataclass, field

import psycopg
import redis
from sqlalchemy.engine import make_url

from zcontacts.storage import migrate
from zcontacts.storage.database import Database
from zcontacts.storage.ids import SEQUENCES
from zcontacts.storage.tables import metadata

POSTGRES_URL = os.environ.get("ZCONTACTS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("ZCONTACTS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def libpq_url(url: str) -> str:
    """The URL without SQLAlchemy's driver suffix, as libpq reads it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def postgres_unreachable(url: str = POSTGRES_URL) -> str | None:
    """Why the PostgreSQL server at `url` cannot be used, or None when it can."""
    try:
        with psycopg.connect(libpq_url(url), connect_timeout=3, autocommit=True) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL not reachable at {url} ({str(exc).strip().splitlines()[0]})"
    return None


def redis_unreachable(url: str = REDIS_URL) -> str | None:
    """Why the Redis server at `url` cannot be used, or None when it can."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"Redis not reachable at {url} ({exc})"
    finally:
        client.close()
    return None


# Every row gone (children first) and the id sequences back at their start: what a new copy holds.
_EMPTY = "; ".join(
    [*(f"DELETE FROM {table.name}" for table in reversed(metadata.sorted_tables)),
     *(f"ALTER SEQUENCE {name} RESTART" for name in SEQUENCES)]
)  # fmt: skip


@dataclass
class PostgresDatabases:
    """Fresh databases on one server: each a copy of a template migrated once (CREATE DATABASE … TEMPLATE
    copies a small database in tens of milliseconds; migrating per test would take a second). A database a
    test hands back with its schema intact is emptied (every row deleted, sequences restarted: the state of a
    new copy) and handed to a later test, which costs far less than dropping it and copying another on a busy
    server; any other is dropped. Emptying and dropping run in a background thread, so no test waits for them.
    """

    admin_url: str = POSTGRES_URL
    prefix: str = field(default_factory=lambda: f"zcontacts_test_{os.getpid()}")
    _numbers: itertools.count[int] = field(default_factory=itertools.count)
    _jobs: queue.Queue[tuple[str, str] | None] = field(default_factory=queue.Queue)
    _ready: queue.Queue[str] = field(default_factory=queue.Queue)
    _worker: threading.Thread | None = None
    _admin: psycopg.Connection[tuple[object, ...]] | None = None

    @property
    def template(self) -> str:
        """Name of the migrated template database."""
        return f"{self.prefix}_template"

    def url_of(self, name: str) -> str:
        """SQLAlchemy URL of database `name` on this server."""
        return (
            make_url(self.admin_url)
            .set(drivername="postgresql+psycopg", database=name)
            .render_as_string(hide_password=False)
        )

    def start(self) -> PostgresDatabases:
        """Create and migrate the template."""
        self._admin = psycopg.connect(libpq_url(self.admin_url), autocommit=True, connect_timeout=5)
        self._admin.execute(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
        try:
            # A linguistic default collation (ICU "en"), so any key column missing its "C" collation would sort
            # differently from SQLite and fail the list tests.
            self._admin.execute(
                f"CREATE DATABASE \"{self.template}\" TEMPLATE template0 ENCODING 'UTF8' "
                "LOCALE_PROVIDER icu ICU_LOCALE 'en'"
            )
        except psycopg.Error:
            self._admin.execute(f'CREATE DATABASE "{self.template}"')
        database = Database.from_url(self.url_of(self.template))
        migrate.upgrade(database.engine)
        database.dispose()
        self._worker = threading.Thread(target=self._work, daemon=True)
        self._worker.start()
        return self

    def create(self, template: str | None = None) -> str:
        """A fresh migrated database (or a copy of `template`, e.g. template0 for an empty one); its URL."""
        assert self._admin is not None
        name = f"{self.prefix}_{next(self._numbers)}"
        self._admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template or self.template}"')
        return self.url_of(name)

    def fresh(self) -> str:
        """A migrated database without rows (one emptied after an earlier test, else a new copy); its URL."""
        try:
            return self.url_of(self._ready.get_nowait())
        except queue.Empty:
            return self.create()

    def release(self, url: str) -> None:
        """Hand back a database from fresh(): emptied for reuse if its schema is intact, else dropped."""
        self._jobs.put(("empty", str(make_url(url).database)))

    def drop(self, url: str) -> None:
        """Drop a database made by create() (soon, in the background)."""
        self._jobs.put(("drop", str(make_url(url).database)))

    def drop_now(self, url: str) -> None:
        """Drop a database made by create() at once, ending its sessions."""
        assert self._admin is not None
        self._admin.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')

    def close(self) -> None:
        """Finish the background work, then drop every database left, and the template."""
        if self._worker is not None:
            self._jobs.put(None)
            self._worker.join(timeout=120)
        if self._admin is not None:
            while not self._ready.empty():
                self._admin.execute(f'DROP DATABASE IF EXISTS "{self._ready.get()}" WITH (FORCE)')
            self._admin.execute(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
            self._admin.close()

    def _work(self) -> None:
        with psycopg.connect(libpq_url(self.admin_url), autocommit=True) as admin:
            while (job := self._jobs.get()) is not None:
                action, name = job
                if action == "empty" and self._empty(name):
                    self._ready.put(name)
                else:
                    # FORCE ends sessions a test left behind (a server process being killed, say).
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _empty(self, name: str) -> bool:
        """Delete every row of database `name` if its schema is at head; False when it cannot be reused."""
        try:
            with psycopg.connect(libpq_url(self.url_of(name)), connect_timeout=5) as connection:
                # A session the test left inside a transaction must not stall the suite: drop instead.
                connection.execute("SET lock_timeout = '2s'")
                versions = connection.execute("SELECT version_num FROM alembic_version").fetchall()
                if versions != [(migrate.head_revision(),)]:
                    return False
                connection.execute(_EMPTY)
        except psycopg.Error:
            return False
        return True
