"""bench.page_audit's list pages on PostgreSQL: the same listings over the same customers, read as a server on
PostgreSQL reads them (`ContactsRepo.list_summaries` through SQLAlchemy), with the plans of the slowest.

    python -m bench.pg_audit [--size 1000000] [--over 20] [--pages 1,5] [--only TEXT] [--plans 10] [--compare]

The customers are copied from the cached SQLite set (bench/data.py) into a database of their own on the server
at ZCONTACTS_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres), migrated by Alembic:
the organization and the contact rows (list pages read nothing else), loaded with COPY with the secondary
indexes dropped and built again after, then VACUUMed and ANALYZEd. The copy is kept for the next run (`--fresh` makes it
again). Timings include the round trip to the server, as a served page's do. With --compare, every page must
also be the page SQLite's planner serves over the same customers (its walk, run, prefix and band plans against
PostgreSQL's statement, and for a filtered page both its walk and its matches-first one): the differences are printed, and the exit status is 1 if there are any."""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
from typing import Any, NamedTuple

import psycopg
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import Engine

from bench import data
from bench.page_audit import listings, query_of
from zcontacts.storage import migrate, postgres_pages
from zcontacts.storage.contacts import ContactsRepo, _sqlite_page_rows
from zcontacts.storage.database import Reader
from zcontacts.storage.tables import contacts, organizations

ADMIN_URL = os.environ.get("ZCONTACTS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
COPIED = (organizations, contacts)


def _urls(name: str) -> tuple[str, str]:
    """(psycopg URL of the admin database, SQLAlchemy URL of `name`)."""
    base = make_url(ADMIN_URL)
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    target = base.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    return admin, target


def _loaded_marker(engine: Engine) -> int | None:
    with engine.connect() as connection:
        exists = connection.execute(text("SELECT to_regclass('bench_copied')")).scalar()
        if exists is None:
            return None
        count = connection.execute(text("SELECT customers FROM bench_copied")).scalar()
        return None if count is None else int(count)


def copy_dataset(loaded: data.Dataset, *, fresh: bool = False) -> Engine:
    """The PostgreSQL copy of `loaded`, made if missing (or `fresh`)."""
    name = f"zcontacts_audit_{loaded.count}"
    admin_url, url = _urls(name)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        present = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if present and fresh:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            present = None
        if not present:
            admin.execute(f'CREATE DATABASE "{name}"')
    engine = create_engine(url)
    migrate.upgrade(engine)  # a copy kept from an older revision gets the newer migrations (indexes) in place
    if _loaded_marker(engine) == loaded.count:
        return engine
    raw_url = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    source = sqlite3.connect(f"file:{loaded.path}?mode=ro", uri=True)
    began = time.perf_counter()
    with psycopg.connect(raw_url) as target:
        # Secondary indexes off while the rows go in: built once at the end instead of entry by entry.
        indexes = target.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'contacts' AND indexname NOT IN "
            "(SELECT conname FROM pg_constraint WHERE conrelid = 'contacts'::regclass)"
        ).fetchall()
        for index_name, _ in indexes:
            target.execute(f'DROP INDEX "{index_name}"')
        target.execute("TRUNCATE contacts, organizations CASCADE")
        for table in COPIED:
            columns = [column.name for column in table.columns]
            rows = source.execute(f"SELECT {', '.join(columns)} FROM {table.name}")
            with target.cursor().copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            print(f"copied {table.name} ({time.perf_counter() - began:.0f} s)", flush=True)
        target.execute("SET maintenance_work_mem = '512MB'")
        for index_name, definition in indexes:
            target.execute(definition)
            print(f"built {index_name} ({time.perf_counter() - began:.0f} s)", flush=True)
        target.commit()
        # As autovacuum leaves a table in steady use: the visibility map set, so index-only scans skip the heap.
        target.autocommit = True
        target.execute("VACUUM (ANALYZE) contacts")
        target.autocommit = False
        target.execute("CREATE TABLE IF NOT EXISTS bench_copied (customers bigint)")
        target.execute("DELETE FROM bench_copied")
        target.execute("INSERT INTO bench_copied VALUES (%s)", (loaded.count,))
    source.close()
    print(f"copied {loaded.count:,} customers into {name} in {time.perf_counter() - began:.0f} s", flush=True)
    return engine


class PgTimed(NamedTuple):
    """A page's best of three reads (`ms`) and its first (`first_ms`, before any walk of it went astray)."""

    listing: str
    ms: float
    rows: int
    first_ms: float


def audit(
    engine: Engine, organization_id: str, pages: list[int], over_ms: float, only: str = ""
) -> tuple[int, list[PgTimed]]:
    """As bench.page_audit.audit, through a PostgreSQL connection (a read transaction per page). Each listing's
    first read starts with no walk remembered as gone astray (storage/postgres_pages.py); the next two read it as
    a server asked for the page again would. Listed: pages whose best or first read is at or over `over_ms`."""
    slow, count = [], 0
    with engine.connect() as connection:
        repo = ContactsRepo(connection)
        for listing in listings(pages):
            if only not in listing:
                continue
            postgres_pages.forget_astray()
            best, first, rows = float("inf"), 0.0, 0
            for attempt in range(3):
                began = time.perf_counter()
                rows = _read(repo, organization_id, listing)
                connection.rollback()
                took = (time.perf_counter() - began) * 1000
                first = took if attempt == 0 else first
                best = min(best, took)
                if best < over_ms:
                    break
            count += 1
            if max(best, first) >= over_ms:
                slow.append(PgTimed(listing, best, rows, first))
    return count, sorted(slow, key=lambda timed: (-timed.ms, -timed.first_ms))


def _read(repo: ContactsRepo, organization_id: str, listing: str) -> int:
    """Rows of one page, read as a server on PostgreSQL reads it."""
    return len(repo.list_summaries(organization_id, query_of(listing)))


def compare(engine: Engine, loaded: data.Dataset, pages: list[int], only: str = "") -> tuple[int, list[str]]:
    """How many listings were compared, and those whose PostgreSQL page differs from SQLite's."""
    source = sqlite3.connect(f"file:{loaded.path}?mode=ro", uri=True, check_same_thread=False)
    source.execute("PRAGMA cache_size=-32768")
    reader = Reader(source)
    differ, count = [], 0
    try:
        with engine.connect() as connection:
            repo = ContactsRepo(connection)
            for listing in listings(pages):
                if only not in listing:
                    continue
                query = query_of(listing)
                ours = list(_sqlite_page_rows(reader, loaded.organization_id, query))
                # Both of PostgreSQL's ways to a filtered page (storage/postgres_pages.py), whichever is served.
                statements = [repo.list_statement(loaded.organization_id, query)]
                if query.filters or query.search_text:
                    statements = [
                        repo.walk_statement(loaded.organization_id, query),
                        repo.matches_first_statement(loaded.organization_id, query),
                    ]
                for statement in statements:
                    theirs = [bytes(row[0]) for row in connection.execute(statement)]
                    connection.rollback()
                    if theirs != ours:
                        differ.append(listing)
                        break
                count += 1
    finally:
        source.close()
    return count, differ


def plan(engine: Engine, organization_id: str, listing: str) -> list[str]:
    """EXPLAIN of a listing's page query (a filtered page's walk), as PostgreSQL would run it."""
    with engine.connect() as connection:
        repo, query = ContactsRepo(connection), query_of(listing)
        filtered = query.filters or query.search_text
        statement: Any = (repo.walk_statement if filtered else repo.list_statement)(organization_id, query)
        compiled = statement.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
        return [row[0] for row in connection.execute(text(f"EXPLAIN {compiled}"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="customers (the cached SQLite set's)")
    parser.add_argument("--over", type=float, default=20.0, help="the bound in ms")
    parser.add_argument("--pages", default="1,5", help="page numbers to read, comma-separated")
    parser.add_argument(
        "--only", default="", help="read only the listings whose query string holds this text"
    )
    parser.add_argument("--plans", type=int, default=10, help="print the plans of this many slowest pages")
    parser.add_argument("--fresh", action="store_true", help="copy the customers again")
    parser.add_argument("--compare", action="store_true", help="check each page against SQLite's too")
    args = parser.parse_args()
    loaded = data.dataset(args.size)
    engine = copy_dataset(loaded, fresh=args.fresh)
    if args.compare:
        count, differ = compare(engine, loaded, [int(page) for page in args.pages.split(",")], args.only)
        for listing in differ:
            print(f"differs: {listing}")
        print(f"{len(differ)} of {count} pages differ between PostgreSQL and SQLite")
        engine.dispose()
        sys.exit(1 if differ else 0)
    began = time.perf_counter()
    pages = [int(page) for page in args.pages.split(",")]
    audit(engine, loaded.organization_id, pages, float("inf"), args.only)  # a first pass warms the cache
    count, slow = audit(engine, loaded.organization_id, pages, args.over, args.only)
    print(
        f"PostgreSQL list pages over {loaded.count:,} customers at or over {args.over:g} ms "
        "(best of 3; first read)"
    )
    for timed in slow:
        print(f"{timed.ms:9.1f} ms {timed.first_ms:9.1f} ms {timed.rows:4d} rows  {timed.listing}")
    over = sum(timed.ms >= args.over for timed in slow)
    first_over = sum(timed.first_ms >= args.over for timed in slow)
    print(
        f"{over} of {count} pages at or over {args.over:g} ms, {first_over} on their first read "
        f"({time.perf_counter() - began:.0f} s)"
    )
    for timed in slow[: args.plans]:
        print(f"\n{timed.listing} ({timed.ms:.1f} ms):")
        for line in plan(engine, loaded.organization_id, timed.listing):
            print(f"    {line}")
    engine.dispose()


if __name__ == "__main__":
    main()
