"""SQLite's hot reads: the plain SQL served by ContactsRepo over Database.fetch is exactly the statement
SQLAlchemy compiles (so the tested query plans are the served ones), and the raw reader sees every commit."""

from __future__ import annotations

import itertools
from typing import Any

import msgspec
import pytest
from sqlalchemy import create_engine

from tests.helpers import CONTACTS, Tenant, make_contact, recorded_statements
from tests.storage.test_sqlite import LISTINGS
from zcontacts.domain.listing import FILTER_FIELDS, SORT_COLUMNS, parse_list_query
from zcontacts.errors import DuplicateName
from zcontacts.storage import contacts as contacts_storage
from zcontacts.storage.contacts import _DOC_SQL, _GET_DOC, ContactsRepo, _sqlite_page_rows, sqlite_page
from zcontacts.storage.database import Database

pytestmark = pytest.mark.backends("sqlite")  # the raw reader and its marks are SQLite-only

MORE_SHAPES = [
    [("filter_by", "Status.Active"), ("contact_name_startswith", "a[*?"), ("email_contains", "x*"),
     ("phone", "1"), ("search_text", "q?"), ("sort_column", "last_modified_time"), ("sort_order", "D"),
     ("page", "3"), ("per_page", "7")],
    [("first_name_startswith", "Zo"), ("last_name_contains", "ad"), ("company_name", "ACME")],
    *[[(f"{f}_startswith", "b"), (f"{g}_contains", "cd")] for f, g in itertools.product(FILTER_FIELDS[:3], FILTER_FIELDS[3:])],
    *[[("search_text", "x"), ("sort_column", c), ("sort_order", o)] for c in SORT_COLUMNS for o in "AD"],
]  # fmt: skip


@pytest.mark.parametrize(
    "params", LISTINGS + MORE_SHAPES, ids=lambda p: "&".join(f"{k}={v}" for k, v in p) or "default"
)
def test_sqlite_page_is_the_compiled_list_statement(params: list[tuple[str, str]]) -> None:  # fmt: skip
    query = parse_list_query(params)
    engine = create_engine("sqlite://")
    with engine.connect() as connection:
        compiled = ContactsRepo(connection).list_statement("10234695", query).compile(connection)
    sql, parameters = sqlite_page("10234695", query)
    assert sql == compiled.string
    assert parameters == [compiled.params[name] for name in compiled.positiontup or []]


def test_doc_sql_is_the_compiled_get_statement() -> None:
    with create_engine("sqlite://").connect() as connection:
        assert _DOC_SQL == _GET_DOC.compile(connection).string


def test_both_paths_read_the_same_bytes(client: Any, tenant: Tenant, database: Database) -> None:
    made = [make_contact(client, tenant, contact_name=f"Person {i}", email=f"p{i}@x.io") for i in range(5)]
    query = parse_list_query([("per_page", "2"), ("search_text", "person"), ("sort_order", "D")])
    fast = ContactsRepo(reader=database.reader())
    slow = database.run(lambda c: ContactsRepo(c).list_summaries(tenant.organization_id, query), write=False)
    assert fast.list_summaries(tenant.organization_id, query) == slow
    assert len(slow) == 3  # one page plus the look-ahead row
    key = int(made[2]["contact_id"])
    slow_doc = database.run(lambda c: ContactsRepo(c).get_doc(tenant.organization_id, key), write=False)
    assert fast.get_doc(tenant.organization_id, key) == slow_doc is not None
    assert fast.get_doc("1", key) is None  # another organization's id finds nothing


def test_the_reader_sees_every_commit(client: Any, tenant: Tenant, database: Database) -> None:
    contact = make_contact(client, tenant, contact_name="Before")
    key = int(contact["contact_id"])
    fast = ContactsRepo(reader=database.reader())
    assert b'"Before"' in (fast.get_doc(tenant.organization_id, key) or b"")
    client.put(f"{CONTACTS}/{key}", json={"contact_name": "After"}, headers=tenant.headers)
    assert b'"After"' in (fast.get_doc(tenant.organization_id, key) or b"")
    client.delete(f"{CONTACTS}/{key}", headers=tenant.headers)
    assert fast.get_doc(tenant.organization_id, key) is None


def test_a_hot_read_repository_refuses_writes(database: Database) -> None:
    with pytest.raises(RuntimeError, match="hot reads only"):
        ContactsRepo(reader=database.reader()).allocate_ids(1)


def test_dispose_closes_the_readers(database_url: str) -> None:
    database = Database.from_url(database_url)
    assert database.fetch("SELECT 1", ()) == [(1,)]
    database.dispose()
    assert database.fetch("SELECT 2", ()) == [(2,)]  # a new reader after dispose
    database.dispose()


# ---- deep pages: seeks from remembered marks give exactly the OFFSET query's rows ------------------------


@pytest.fixture
def crowd(client: Any, tenant: Tenant, database: Database) -> list[str]:
    """37 customers with many ties: 3 companies, 4 creation times, 3 modification times, some inactive."""
    ids = [
        make_contact(client, tenant, contact_name=f"Person {i:02d}", company_name=f"Firm {i % 3}",
                     email=f"p{i % 7}@x.io")["contact_id"]
        for i in range(37)
    ]  # fmt: skip
    database.run(lambda c: c.exec_driver_sql(
        "UPDATE contacts SET created_at_ms = 1000 + rowid % 4, updated_at_ms = 5000 - rowid % 3, "
        "status = CASE WHEN CAST(substr(contact_name, 8) AS INTEGER) % 5 = 0 THEN 'inactive' ELSE 'active' END"), write=True)  # fmt: skip
    return ids


def _offset_page(database: Database, organization_id: str, query: Any) -> list[bytes]:
    sql, parameters = sqlite_page(organization_id, query)
    return [bytes(row[0]) for row in database.fetch(sql, parameters)]


LISTING_KINDS = [
    *[[("sort_column", c), ("sort_order", o)] for c in SORT_COLUMNS for o in "AD"],
    *[[("filter_by", f), ("sort_column", c)] for f in ("Status.Active", "Status.Inactive") for c in SORT_COLUMNS],
    [("search_text", "person 1"), ("sort_order", "D")],
    [("company_name", "firm 1"), ("sort_column", "created_time")],
    [("email_startswith", "p1"), ("sort_column", "last_modified_time"), ("sort_order", "D")],
]  # fmt: skip


@pytest.mark.parametrize("kind", LISTING_KINDS, ids=lambda p: "&".join(f"{k}={v}" for k, v in p))
def test_deep_pages_from_marks_match_offset(
    crowd: list[str], tenant: Tenant, database: Database, monkeypatch: pytest.MonkeyPatch, kind: list[tuple[str, str]]
) -> None:  # fmt: skip
    monkeypatch.setattr(contacts_storage, "PAGE_MARK_EVERY", 3)
    repo = ContactsRepo(reader=database.reader())
    for per_page in (1, 2, 5):
        for page in [*range(1, 40 // per_page + 3), 2, 1, 7]:  # forwards, then back (marks are reused)
            query = parse_list_query([*kind, ("page", str(page)), ("per_page", str(per_page))])
            expected = _offset_page(database, tenant.organization_id, query)
            assert repo.list_summaries(tenant.organization_id, query) == expected, (per_page, page)


FILTERED_KINDS = [
    [("search_text", "person"), ("sort_order", "D")],
    [("contact_name_contains", "son"), ("sort_column", "email")],
    [("company_name", "firm 1"), ("sort_column", "created_time")],
    [("email_startswith", "p"), ("sort_column", "last_modified_time"), ("sort_order", "D")],
]


@pytest.mark.parametrize("kind", FILTERED_KINDS, ids=lambda p: "&".join(f"{k}={v}" for k, v in p))
def test_a_filtered_deep_page_is_one_statement_that_leaves_marks(
    crowd: list[str], tenant: Tenant, database: Database, monkeypatch: pytest.MonkeyPatch, kind: list[tuple[str, str]]
) -> None:  # fmt: skip
    # These listings' marks go at any commit: a deep page with none near it is read from the nearest (or the
    # start) in one statement, not a mark's walk and then the page, and leaves marks at its first row and the
    # next page's, from which the next page, or this one again, is read.
    monkeypatch.setattr(contacts_storage, "PAGE_MARK_EVERY", 3)
    statements = recorded_statements(monkeypatch)
    reader = database.reader()
    for page in (4, 5, 4, 9):
        query = parse_list_query([*kind, ("page", str(page)), ("per_page", "1")])
        expected = _offset_page(database, tenant.organization_id, query)
        assert expected
        statements.clear()
        assert _sqlite_page_rows(reader, tenant.organization_id, query) == expected, page
        pages = [sql for sql in statements if "summary_doc" in sql]
        assert len(pages) == 1, "\n\n".join(statements)
        assert "LIMIT 1 OFFSET" not in " ".join(statements)  # no mark walked to first
    with reader.snapshot() as facts:
        marks = facts[contacts_storage._marks_key(tenant.organization_id, query)]
    assert marks.ranks == [3, 4, 5, 8, 9]  # pages 4, 5 and 9, and the pages after them


def test_marks_are_forgotten_when_the_data_changes(
    client: Any, crowd: list[str], tenant: Tenant, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(contacts_storage, "PAGE_MARK_EVERY", 4)
    repo = ContactsRepo(reader=database.reader())
    queries = [parse_list_query([("page", str(p)), ("per_page", "3"), *sort])
               for p in range(2, 14) for sort in ([("sort_column", "created_time")], [])]  # fmt: skip
    for step, victim in enumerate(crowd[:6]):
        for query in queries:
            assert repo.list_summaries(tenant.organization_id, query) == _offset_page(
                database, tenant.organization_id, query
            )
        # Every kind of change moves rows across the marks: a delete, a rename, a new customer.
        client.delete(f"{CONTACTS}/{victim}", headers=tenant.headers)
        client.put(
            f"{CONTACTS}/{crowd[-1 - step]}", json={"contact_name": f"Aaron {step}"}, headers=tenant.headers
        )
        make_contact(client, tenant, contact_name=f"New {step}")


def test_deep_pages_through_the_api(
    client: Any, crowd: list[str], tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(contacts_storage, "PAGE_MARK_EVERY", 2)
    params = {"sort_column": "last_modified_time", "sort_order": "D", "filter_by": "Status.Active"}
    everyone = client.get(CONTACTS, params=params, headers=tenant.headers).json()["customers"]
    seen: list[dict[str, Any]] = []
    for page in range(1, 12):
        body = client.get(
            CONTACTS, params={**params, "page": page, "per_page": 3}, headers=tenant.headers
        ).json()
        seen += body["customers"]
        assert body["page_context"]["has_more_page"] == (len(seen) < len(everyone))
        assert body["page_context"]["page"] == page
    assert seen == everyone


def test_a_duplicate_found_by_the_database_is_a_duplicate_name(
    client: Any, tenant: Tenant, database: Database
) -> None:
    """The race a concurrent writer wins (name checked free, then taken): the unique index refuses the
    insert on SQLite's direct write path too, and it is reported as a duplicate name, not a 500."""
    first = make_contact(client, tenant, contact_name="Twin")
    stored = database.run(
        lambda c: ContactsRepo(c).load_for_update(tenant.organization_id, first["contact_id"]), write=False
    )
    assert stored is not None
    clone = msgspec.structs.replace(
        stored, contact=msgspec.structs.replace(stored.contact, contact_id="47000000000000001")
    )
    with pytest.raises(DuplicateName, match="Twin"):
        database.run(lambda c: ContactsRepo(c).insert(tenant.organization_id, clone, 1), write=True)
