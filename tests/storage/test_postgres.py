"""The PostgreSQL backend: the migrations (sequences, pg_trgm, "C" collation on keys), query plans on a table
with enough rows, ids from sequences across connections, a lost name race, the pool settings, and the wait for
a connection."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Connection, inspect, text

from tests.backends import PostgresDatabases
from tests.e2e.server import free_port
from tests.helpers import Tenant
from tests.storage.test_sqlite import LISTINGS
from zcontacts.app import create_app
from zcontacts.config import Settings
from zcontacts.domain.contacts import Stamp, create_contact
from zcontacts.domain.listing import parse_list_query
from zcontacts.domain.schemas import ContactCreate
from zcontacts.domain.zoho_time import now_ms
from zcontacts.errors import DatabaseUnavailable, DuplicateName, ServiceBusy
from zcontacts.storage import ids, migrate
from zcontacts.storage.contacts import ContactsRepo
from zcontacts.storage.database import Database
from zcontacts.storage.organizations import OrganizationsRepo
from zcontacts.storage.tables import metadata

pytestmark = [pytest.mark.postgres, pytest.mark.backends("postgresql")]

KEYS = ["contact_name_key", "company_name_key", "first_name_key", "last_name_key", "email_key", "phone_key"]
# The pg_trgm indexes migrations 0001 and 0018 make in SQL: the sorted keys' hold each key after its first character.
TAILED = ["contact_name_key", "company_name_key", "email_key"]
TRIGRAM_INDEXES = sorted(
    [f"ix_contacts_trgm_{key}" for key in [*KEYS, "search_key"] if key not in TAILED]
    + [f"ix_contacts_trgm_tail_{key}" for key in TAILED]
)


@pytest.fixture
def empty_url(postgres: PostgresDatabases) -> Iterator[str]:
    """A database with nothing in it (not even pg_trgm)."""
    url = postgres.create(template="template0")
    yield url
    postgres.drop(url)


def test_migrations_on_an_empty_database(empty_url: str) -> None:
    database = Database.from_url(empty_url)
    assert migrate.current_revision(database.engine) is None
    migrate.upgrade(database.engine)
    migrate.upgrade(database.engine)  # idempotent
    assert migrate.current_revision(database.engine) == migrate.head_revision()

    def catalog(connection: Connection) -> dict[str, object]:
        def scalars(sql: str) -> list[object]:
            return list(connection.execute(text(sql)).scalars())

        return {
            "extensions": scalars("SELECT extname FROM pg_extension"),
            "sequences": scalars("SELECT sequencename || ':' || start_value FROM pg_sequences ORDER BY 1"),
            "collations": scalars(
                "SELECT column_name || ':' || collation_name FROM information_schema.columns "
                "WHERE table_name = 'contacts' AND collation_name IS NOT NULL ORDER BY 1"
            ),
            "trigram": scalars(
                "SELECT indexname FROM pg_indexes WHERE indexdef LIKE '%gin_trgm_ops%' ORDER BY 1"
            ),
        }

    found = database.run(catalog, write=False)
    assert "pg_trgm" in found["extensions"]
    assert found["sequences"] == ["ids:46000000000000001", "organization_ids:10234695"]
    assert found["collations"] == sorted(f"{key}:C" for key in KEYS)
    assert found["trigram"] == TRIGRAM_INDEXES
    migrate.downgrade(database.engine, "base")
    assert inspect(database.engine).get_table_names() == ["alembic_version"]
    assert (
        database.run(lambda c: c.execute(text("SELECT count(*) FROM pg_sequences")).scalar(), write=False)
        == 0
    )
    migrate.upgrade(database.engine)
    assert migrate.current_revision(database.engine) == migrate.head_revision()
    database.dispose()


def test_the_migrated_indexes_are_the_ones_the_tables_declare(postgres: PostgresDatabases) -> None:
    # One schema: what `db upgrade` builds on PostgreSQL is what storage/tables.py declares for it (the SQLite side
    # is held to its migrations by tests/storage/test_schema_snapshot.py).
    def indexes(url: str) -> dict[str, str]:
        database = Database.from_url(url)
        try:
            rows = database.run(
                lambda c: c.execute(
                    text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()")
                ).all(),
                write=False,
            )
        finally:
            database.dispose()
        return {str(name): str(definition) for name, definition in rows}

    migrated, declared = postgres.create(), postgres.create(template="template0")
    try:
        engine = Database.from_url(declared).engine
        with engine.begin() as connection:
            connection.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
            metadata.create_all(connection)
        engine.dispose()
        built, wanted = indexes(migrated), indexes(declared)
    finally:
        postgres.drop(migrated)
        postgres.drop(declared)
    assert {"ix_contacts_walk_name", "ix_contacts_walk_company"} <= set(built)
    # Beyond the tables: Alembic's own, and the pg_trgm indexes.
    assert set(built) - set(wanted) == {"alembic_version_pkc", *TRIGRAM_INDEXES}
    assert {name: built[name] for name in wanted} == wanted


# ---- query plans ------------------------------------------------------------------------------------------

ORGANIZATIONS, ROWS = 8, 8000  # 1,000 contacts each: enough that the planner prefers indexes to scans
ORGANIZATION = "10234696"


def _populate(database: Database, organizations: int, rows: int) -> None:
    """`rows` contacts spread over `organizations` (the first is 10234695), written in bulk and analyzed."""

    def populate(connection: Connection) -> None:
        connection.execute(
            text("INSERT INTO organizations SELECT 10234695 + g, 'Org ' || g, 1, 'USD', '$', 2, 'UTC', 0 "
                 "FROM generate_series(0, :orgs - 1) g"),
            {"orgs": organizations},
        )  # fmt: skip
        connection.execute(
            text("""
            INSERT INTO contacts (contact_id, organization_id, contact_name, contact_name_key, company_name,
              company_name_key, first_name_key, last_name_key, email_key, phone_key, search_key, status, website,
              twitter, facebook, notes, created_at_ms, updated_at_ms, doc, summary_doc)
            SELECT 46000000000000001 + g, 10234695 + g % :orgs, k, k, 'co ' || k, 'co ' || md5(k), 'f' || md5(k),
              'l' || md5(k), md5(k || 'e') || '@example.com', (g * 7919 % 1000003)::text,
              k || chr(31) || 'co ' || md5(k) || chr(31) || md5(k || 'e') || '@example.com',
              CASE WHEN g % 10 = 0 THEN 'inactive' ELSE 'active' END, '', '', '', '',
              1700000000000 + g * 1000, 1700000000000 + (g * 7) % 100000 * 1000, '\\x7b7d', '\\x7b7d'
            FROM (SELECT g, md5(g::text) AS k FROM generate_series(1, :rows) g) numbered"""),
            {"orgs": organizations, "rows": rows},
        )
        connection.execute(text("ANALYZE"))

    database.run(populate, write=True)


@pytest.fixture(scope="module")
def populated(postgres: PostgresDatabases) -> Iterator[Database]:
    """Contacts of several organizations, written in bulk and analyzed."""
    url = postgres.create()
    database = Database.from_url(url)
    _populate(database, ORGANIZATIONS, ROWS)
    yield database
    database.dispose()
    postgres.drop(url)


@pytest.fixture(scope="module")
def one_large(postgres: PostgresDatabases) -> Iterator[Database]:
    """One organization of 30,000 contacts: reading them all costs the planner more than a few index entries."""
    url = postgres.create()
    database = Database.from_url(url)
    _populate(database, 1, 30_000)
    yield database
    database.dispose()
    postgres.drop(url)


def _plan(database: Database, params: list[tuple[str, str]]) -> str:
    query = parse_list_query(params)

    def explain(connection: Connection) -> str:
        statement = ContactsRepo(connection).list_statement(ORGANIZATION, query)
        compiled = statement.compile(connection, compile_kwargs={"literal_binds": True})
        return "\n".join(row[0] for row in connection.exec_driver_sql(f"EXPLAIN {compiled}"))

    return database.run(explain, write=False)


PG_LISTINGS = [*LISTINGS, [("contact_name_contains", "ab")], [("search_text", "a")]]


@pytest.mark.parametrize("params", PG_LISTINGS, ids=lambda p: "&".join(f"{k}={v}" for k, v in p) or "default")
def test_every_listing_is_served_by_an_index(populated: Database, params: list[tuple[str, str]]) -> None:
    # No planner settings are touched (enable_seqscan stays on): these are the plans production gets.
    plan = _plan(populated, params)
    assert "Seq Scan" not in plan, plan
    assert "Index" in plan, plan
    # Without a filter, an index delivers rows in order. (Inactive contacts are few: the planner rightly
    # fetches them by the status index and sorts that handful by email.)
    if all(key in ("sort_column", "sort_order", "filter_by", "page") for key, _ in params):
        if ("filter_by", "Status.Inactive") not in params:
            assert "Sort" not in plan, plan


@pytest.mark.parametrize("field", ["contact_name", "company_name", "email"])
def test_a_sorted_key_s_substring_is_found_by_its_range_and_trigrams(one_large: Database, field: str) -> None:
    # Migration 0018: the key's start is a range of its B-tree index, the rest of it is in the trigram index. The
    # matches-first read takes them as two sides (an Append), not one OR (a BitmapOr, which reads every match's row).
    query = parse_list_query([(f"{field}_contains", "abc"), ("sort_column", "created_time")])

    def explain(connection: Connection) -> str:
        # Its parameters bound as the server gets them, not written into the SQL: the planner must still match the
        # index's expression.
        compiled = ContactsRepo(connection).matches_first_statement("10234695", query).compile(connection)
        return "\n".join(row[0] for row in connection.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params))

    plan = one_large.run(explain, write=False)
    assert "Append" in plan, plan
    assert "BitmapOr" not in plan, plan
    assert f"ix_contacts_trgm_tail_{field}_key" in plan, plan
    assert re.search(rf"{field}_key(\)::text)? >= 'abc'", plan), plan  # the range of its B-tree index


def test_the_default_listing_reads_the_name_index_in_order(populated: Database) -> None:
    plan = _plan(populated, [])
    assert "Index Scan using uq_contacts_organization_id_contact_name_key" in plan, plan
    assert "Limit" in plan.splitlines()[0], plan


# ---- writes -----------------------------------------------------------------------------------------------


def test_ids_from_sequences_never_repeat_across_connections(database: Database) -> None:
    def take(_: int) -> list[int]:
        return database.run(lambda connection: ids.allocate(connection, 50), write=True)

    with ThreadPoolExecutor(8) as pool:
        batches = list(pool.map(take, range(40)))
    every = [i for batch in batches for i in batch]
    assert len(set(every)) == len(every) == 2000


def test_a_lost_name_race_is_a_duplicate_name(database: Database, tenant: Tenant) -> None:
    """Two transactions both see the name free; the database's unique index decides, and the loser gets 3062."""
    organization = database.run(lambda c: OrganizationsRepo(c).get(tenant.organization_id), write=False)
    assert organization is not None
    inserted, second_inserting = threading.Event(), threading.Event()
    outcome: list[BaseException | None] = []

    def second() -> None:
        inserted.wait(10)
        try:
            with database.engine.connect() as connection, connection.begin():
                repo = ContactsRepo(connection)
                assert not repo.name_taken(tenant.organization_id, "race", None)  # the first is not committed
                second_inserting.set()
                create_contact(repo, organization, ContactCreate(contact_name="RACE"), Stamp(now_ms()))
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=second)
    thread.start()
    with database.engine.connect() as connection, connection.begin():
        create_contact(
            ContactsRepo(connection), organization, ContactCreate(contact_name="Race"), Stamp(now_ms())
        )
        inserted.set()
        second_inserting.wait(10)
        thread.join(0.5)  # the second insert now waits on the unique index for this commit
        assert thread.is_alive()
    thread.join(10)
    assert len(outcome) == 1
    assert isinstance(outcome[0], DuplicateName), outcome
    assert outcome[0].code == 3062


def test_pool_settings_reach_the_engine(database_url: str) -> None:
    app = create_app(
        Settings(
            database_url=database_url, pool_size=3, max_overflow=4, pool_timeout=2.5, rate_limit_per_minute=0
        )
    )
    engine = app.state.database.engine
    assert (engine.pool.size(), engine.pool._max_overflow, engine.pool.timeout()) == (3, 4, 2.5)
    assert (app.state.database._slots.total_tokens, app.state.database._pool_timeout) == (7, 2.5)
    app.state.database.dispose()
    environ = {"ZCONTACTS_POOL_SIZE": "5", "ZCONTACTS_MAX_OVERFLOW": "0"}
    settings = Settings.from_env(environ, database_url=database_url)
    assert (settings.pool_size, settings.max_overflow) == (5, 0)
    assert settings.to_env()["ZCONTACTS_POOL_SIZE"] == "5"  # what `serve` hands its workers


def test_waiting_for_a_connection_ends_at_the_pool_timeout_and_keeps_no_slot(database_url: str) -> None:
    database = Database.from_url(database_url, pool_size=1, max_overflow=0, pool_timeout=0.3)
    release = threading.Event()

    async def main() -> None:
        held = asyncio.create_task(database.read(lambda _: release.wait(10)))  # the one connection's slot
        await asyncio.sleep(0.1)
        started = time.monotonic()
        with pytest.raises(ServiceBusy):
            await database.read(lambda _: None)
        assert 0.25 < time.monotonic() - started < 1.0
        waiting = asyncio.create_task(database.read(lambda _: None))  # a client that goes away meanwhile
        await asyncio.sleep(0.1)
        waiting.cancel()
        release.set()
        assert await held
        # Neither the refused nor the cancelled read kept the slot: reads take it again, one after another.
        for _ in range(3):
            assert await database.read(lambda c: c.execute(text("SELECT 1")).scalar()) == 1

    try:
        asyncio.run(main())
    finally:
        database.dispose()


def test_a_server_refusing_connections_is_a_503_not_a_500() -> None:
    database = Database.from_url(f"postgresql://postgres@127.0.0.1:{free_port()}/nothing_listens")
    try:
        with pytest.raises(DatabaseUnavailable) as refused:
            asyncio.run(database.read(lambda c: c.execute(text("SELECT 1"))))
        assert (refused.value.status, refused.value.headers()) == (503, {"Retry-After": "1"})
        with pytest.raises(DatabaseUnavailable):
            database.run(lambda c: c.execute(text("SELECT 1")), write=True)
    finally:
        database.dispose()
