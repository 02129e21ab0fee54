"""The embedded backend: migrations, pragmas, and query plans that never scan the whole table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, inspect

from tests.helpers import CONTACTS, Tenant, make_contact
from zcontacts.app import create_app
from zcontacts.config import Settings
from zcontacts.domain.listing import FILTER_FIELDS, SORT_COLUMNS, parse_list_query
from zcontacts.storage import migrate
from zcontacts.storage.contacts import ContactsRepo
from zcontacts.storage.database import Database

pytestmark = pytest.mark.backends("sqlite")


def test_migrations_create_every_table_at_head(tmp_path: Path) -> None:
    database = Database.from_url(f"sqlite:///{tmp_path / 'new' / 'z.db'}")
    assert migrate.current_revision(database.engine) is None
    migrate.upgrade(database.engine)
    migrate.upgrade(database.engine)  # idempotent
    assert migrate.current_revision(database.engine) == migrate.head_revision()
    tables = set(inspect(database.engine).get_table_names())
    assert {"organizations", "tokens", "contacts", "contact_addresses", "contact_persons", "contact_custom_fields",
            "contacts_fts", "alembic_version"} <= tables  # fmt: skip
    database.dispose()


def test_downgrade_and_upgrade_again(database_url: str) -> None:
    database = Database.from_url(database_url)
    migrate.downgrade(database.engine, "base")
    assert "contacts" not in inspect(database.engine).get_table_names()
    migrate.upgrade(database.engine)
    assert migrate.current_revision(database.engine) == migrate.head_revision()
    database.dispose()


def test_the_hot_reader_has_its_own_page_cache(database_url: str) -> None:
    """The connection serving GET by id and the list holds ZCONTACTS_SQLITE_READ_CACHE_MB of pages (a 200-row
    page over a large file overflows SQLite's 2 MiB default); 0 leaves SQLite's default; writers keep it."""
    assert Settings.from_env({}).sqlite_read_cache_mb == 32
    assert Settings.from_env({"ZCONTACTS_SQLITE_READ_CACHE_MB": "48"}).sqlite_read_cache_mb == 48
    for wanted, pragma in ((48, -48 * 1024), (0, -2000)):
        app = create_app(Settings(database_url=database_url, auto_migrate=False, sqlite_read_cache_mb=wanted))
        database: Database = app.state["database"]
        assert database.reader().connection.execute("PRAGMA cache_size").fetchone() == (pragma,)
        assert (
            database.run(lambda c: c.exec_driver_sql("PRAGMA cache_size").scalar_one(), write=False) == -2000
        )
        database.dispose()


def test_wal_and_foreign_keys_are_on(database: Database) -> None:
    def pragmas(connection: Connection) -> tuple[str, int]:
        mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar_one()
        keys = connection.exec_driver_sql("PRAGMA foreign_keys").scalar_one()
        return mode, keys

    assert database.run(pragmas, write=False) == ("wal", 1)


def _plan(database: Database, params: list[tuple[str, str]]) -> str:
    query = parse_list_query(params)

    def explain(connection: Connection) -> str:
        statement = ContactsRepo(connection).list_statement("10234695", query)
        compiled = statement.compile(connection, compile_kwargs={"literal_binds": True})
        rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}").all()
        return "\n".join(str(row[-1]) for row in rows)

    return database.run(explain, write=False)


LISTINGS = [
    [],
    *[[("sort_column", c), ("sort_order", o)] for c in SORT_COLUMNS for o in "AD"],
    [("filter_by", "Status.Active")],
    [("filter_by", "Status.Inactive"), ("sort_column", "email")],
    *[[(f, "x")] for f in FILTER_FIELDS],
    *[[(f"{f}_startswith", "x")] for f in FILTER_FIELDS],
    *[[(f"{f}_contains", "xyz")] for f in FILTER_FIELDS],
    [("search_text", "kenny")],
    [("search_text", "kenny"), ("sort_column", "created_time"), ("page", "50")],
]


@pytest.mark.parametrize("params", LISTINGS, ids=lambda p: "&".join(f"{k}={v}" for k, v in p) or "default")
def test_every_listing_is_served_by_an_index(database: Database, params: list[tuple[str, str]]) -> None:
    plan = _plan(database, params)
    for line in plan.splitlines():
        if line.startswith("SCAN contacts_fts VIRTUAL TABLE INDEX"):
            continue  # the FTS5 table's own trigram index answers the match
        if line == "SCAN contacts_fts_pending":
            continue  # the short queue of rows not yet in that index (storage/search_index.py)
        assert not (line.startswith("SCAN contacts") and "INDEX" not in line), plan
    # Without a filter the index delivers rows in order; with one, only the matching rows are sorted.
    if all(key in ("sort_column", "sort_order", "filter_by", "page") for key, _ in params):
        assert "TEMP B-TREE" not in plan, plan


def test_upgrade_from_0001_backfills_contact_records(database_url: str, tmp_path: Path) -> None:
    """Contacts written before revision 0002 get their full record, so updates and address calls work."""
    from litestar.testing import TestClient

    from tests.helpers import CONTACTS, make_contact, make_tenant
    from zcontacts.app import create_app
    from zcontacts.config import Settings

    database = Database.from_url(database_url)
    tenant = make_tenant(database)
    with TestClient(create_app(Settings(database_url=database_url, token_cache_seconds=0))) as client:
        contact = make_contact(client, tenant, billing_address={"city": "Pune"})
    migrate.downgrade(database.engine, "0001")
    assert "state_doc" not in {c["name"] for c in inspect(database.engine).get_columns("contacts")}
    migrate.upgrade(database.engine)
    with TestClient(create_app(Settings(database_url=database_url, token_cache_seconds=0))) as client:
        url = f"{CONTACTS}/{contact['contact_id']}"
        assert client.get(url, headers=tenant.headers).json()["contact"] == contact
        addresses = client.get(f"{url}/address", headers=tenant.headers).json()["addresses"]
        assert (addresses[0]["city"], addresses[0]["street2"]) == ("Pune", "")
        updated = client.put(url, json={"notes": "after upgrade"}, headers=tenant.headers)
        assert updated.status_code == 200, updated.text
    database.dispose()


def test_a_company_listing_reads_its_page_in_name_order(database: Database) -> None:
    """`?company_name=…` in the default (name) order comes straight from the company-and-name index, which
    carries the list row (migrations 0005, 0006): no sort and no row reads, so a page reads only its own
    index entries."""
    for order in "AD":
        plan = _plan(database, [("company_name", "x"), ("sort_order", order)])
        assert "COVERING INDEX ix_contacts_company_pages" in plan, plan
        assert "TEMP B-TREE" not in plan, plan
    # Another order still reads the company's rows from an index and sorts only those.
    plan = _plan(database, [("company_name", "x"), ("sort_column", "created_time")])
    assert "company_name_key=?" in plan, plan


@pytest.mark.parametrize(
    "params",
    [
        [],
        [("sort_order", "D")],
        [("sort_column", "contact_name")],
        [("page", "50")],
        [("contact_name_startswith", "a")],
        [("search_text", "ab")],
        [("search_text", "ab"), ("sort_order", "D")],
    ],
    ids=lambda p: "&".join(f"{k}={v}" for k, v in p) or "default",
)
def test_name_ordered_pages_read_only_the_covering_index(
    database: Database, params: list[tuple[str, str]]
) -> None:
    """Every customer by name (the default listing) is read from the index carrying the list row (migration
    0006): neighbouring index pages, not one scattered row per customer. A search walking that order tests
    each entry's search key there too (migration 0012)."""
    plan = _plan(database, params)
    assert plan.startswith("SEARCH contacts USING COVERING INDEX ix_contacts_name_pages"), plan
    assert "TEMP B-TREE" not in plan, plan


def test_an_update_leaves_unchanged_child_rows_alone(client: Any, tenant: Tenant, database: Database) -> None:
    """A notes change keeps the address, person and custom-field rows as they are (none deleted and written
    again); an address change rewrites the address rows only; reads show each state."""
    contact = make_contact(
        client,
        tenant,
        contact_name="Rows Kept",
        billing_address={"address": "1 Old Road", "city": "Pune"},
        contact_persons=[{"first_name": "Ada", "email": "ada@example.org"}],
        custom_fields=[{"customfield_id": "46000000012845", "value": "Gold"}],
    )
    url = f"{CONTACTS}/{contact['contact_id']}"

    def count_deletes(connection: Connection) -> None:
        connection.exec_driver_sql("CREATE TABLE deleted_children (name TEXT)")
        for table in ("contact_addresses", "contact_persons", "contact_custom_fields"):
            connection.exec_driver_sql(
                f"CREATE TRIGGER count_{table} AFTER DELETE ON {table} "
                f"BEGIN INSERT INTO deleted_children VALUES ('{table}'); END"
            )

    def deleted() -> set[str]:
        rows = database.run(
            lambda c: c.exec_driver_sql("SELECT name FROM deleted_children").all(), write=False
        )
        return {row[0] for row in rows}

    database.run(count_deletes, write=True)
    assert client.put(url, json={"notes": "only notes"}, headers=tenant.headers).status_code == 200
    assert deleted() == set()
    shown = client.get(url, headers=tenant.headers).json()["contact"]
    assert shown["notes"] == "only notes"
    assert shown["billing_address"]["address"] == "1 Old Road"
    assert shown["contact_persons"][0]["email"] == "ada@example.org"
    assert shown["custom_fields"][0]["value"] == "Gold"

    moved = {"billing_address": {"address": "2 New Road", "city": "Pune"}}
    assert client.put(url, json=moved, headers=tenant.headers).status_code == 200
    assert deleted() == {"contact_addresses"}
    shown = client.get(url, headers=tenant.headers).json()["contact"]
    assert shown["billing_address"]["address"] == "2 New Road"
    assert shown["contact_persons"][0]["email"] == "ada@example.org"
    assert shown["custom_fields"][0]["value"] == "Gold"
