"""Listings by a first or last name, an email or a phone (exact or by prefix, with a status at most beside): their
pages are chosen from the filter's index entries and only then read (storage/contacts.py, _rows_last_sql;
migration 0013). The rows are exactly the listing's own SQL's, in every sort, both orders, with and without status,
on deep pages, through deletes and renames; and SQLite reads them from the filter's covering index, never walking a
status or sort index."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tests.helpers import CONTACTS, Tenant, churned, listing_page, make_contact
from zcontacts.domain.listing import SORT_COLUMNS, parse_list_query
from zcontacts.storage import contacts as contacts_storage
from zcontacts.storage import value_plan
from zcontacts.storage.contacts import (
    _by_filter_index,
    _filter_parameters,
    _rows_last_sql,
    _shape,
    _sqlite_clauses,
)
from zcontacts.storage.database import Database

pytestmark = pytest.mark.backends("sqlite")  # the hot reader's SQL

FIRST = ["Ivan", "Ivana", "Ada", "Émile", "Bo"]
LAST = ["Kim", "Kimura", "Patel", "Weiß"]
INDEXED_SORTS = [sort for sort in SORT_COLUMNS if sort != "last_modified_time"]
STATUSES = [[], [("filter_by", "Status.Active")], [("filter_by", "Status.Inactive")]]
FILTERS = [
    ("first_name", "ivan"),
    ("first_name", "IVAN"),
    ("first_name_startswith", "iv"),
    ("first_name_startswith", "é"),
    ("last_name", "kim"),
    ("last_name_startswith", "k"),
    ("last_name_startswith", "absent"),
    ("email", "a1@corp.com"),
    ("email_startswith", "b"),
    ("phone", "555-0101"),
    ("phone_startswith", "555-01"),
]


@pytest.fixture
def named(client: Any, tenant: Tenant, database: Database) -> list[str]:
    """60 customers sharing few first and last names, with ties in company, email and times, a third inactive,
    some deleted and some renamed (names and name parts) after they were made."""
    rng = random.Random(11)
    bodies = [
        {
            "contact_name": f"{rng.choice(['Zed', 'Ann', 'Mo'])} {n:02d}",
            "first_name": rng.choice(FIRST),
            "last_name": rng.choice(LAST),
            "company_name": rng.choice(["Acme", "Initech"]),
            "email": f"{rng.choice(['a', 'b'])}{n % 3}@corp.com",
            "phone": f"555-01{n % 4:02d}",
        }
        for n in range(60)
    ]
    renames = [{"contact_name": f"Aaron {n}", "first_name": "Ivan", "last_name": "Kim"} for n in range(5)]
    marking = (
        "UPDATE contacts SET created_at_ms = 1000 + rowid % 4, updated_at_ms = 5000 - rowid % 3, "
        "status = CASE WHEN rowid % 3 = 0 THEN 'inactive' ELSE 'active' END"
    )
    return churned(client, tenant, database, bodies, renames, marking)


@pytest.mark.parametrize("status", STATUSES, ids=lambda s: s[0][1] if s else "any status")
def test_pages_by_an_indexed_filter_are_the_listings(
    named: list[str], tenant: Tenant, database: Database, monkeypatch: pytest.MonkeyPatch, status: list[Any]
) -> None:
    monkeypatch.setattr(contacts_storage, "PAGE_MARK_EVERY", 3)  # deep pages (from marks) from the third row
    repo = contacts_storage.ContactsRepo(reader=database.reader())
    compared = 0
    for by in FILTERS:
        for sort in SORT_COLUMNS:
            for order in "AD":
                for page in (1, 2, 3, 6, 30):
                    params = [by, *status, ("sort_column", sort), ("sort_order", order),
                              ("page", str(page)), ("per_page", "2")]  # fmt: skip
                    query = parse_list_query(params)
                    assert _by_filter_index(_shape(query)) == (sort != "last_modified_time")
                    rows = repo.list_summaries(tenant.organization_id, query)
                    assert rows == listing_page(database, tenant.organization_id, query), params
                    compared += bool(rows)
    assert compared > 100  # most pages hold rows


def test_only_an_indexed_filter_with_status_at_most_is_read_this_way() -> None:
    def by_filter_index(*params: tuple[str, str]) -> bool:
        return _by_filter_index(_shape(parse_list_query(list(params))))

    assert by_filter_index(("last_name_startswith", "k"), ("filter_by", "Status.Inactive"))
    assert by_filter_index(("email", "a0@corp.com"))
    assert not by_filter_index(("first_name_contains", "iva"))  # a substring: storage/substring_plans.py
    assert not by_filter_index(("first_name", "ivan"), ("company_name", "acme"))  # beyond one index
    assert not by_filter_index(("first_name", "ivan"), ("search_text", "kim"))
    assert not by_filter_index(("company_name", "acme"))  # its own indexes (migrations 0005, 0006)
    # Every update writes the time of the last change: no filter index carries it.
    assert not by_filter_index(("first_name", "ivan"), ("sort_column", "last_modified_time"))


@pytest.mark.parametrize("part", ["first_name", "last_name", "email", "phone"])
def test_a_filtered_page_reads_only_its_covering_index(database: Database, tenant: Tenant, part: str) -> None:
    """Whatever the sort and status, the page's row ids come from the filter's index alone (no status or sort
    index walked, no row read to test or sort), and the rows are then fetched by id; from a mark on as well."""
    connection = database.reader().connection
    for op, value in (("", "ivan"), ("_startswith", "iv")):
        for status in STATUSES:
            for sort in INDEXED_SORTS:
                for order in "AD":
                    query = parse_list_query([(part + op, value), *status, ("sort_column", sort),
                                              ("sort_order", order)])  # fmt: skip
                    parameters = _filter_parameters(tenant.organization_id, query)
                    for seek in (False, True):
                        marks = [None] * (1 if sort == "contact_name" else 3) if seek else []
                        sql = _rows_last_sql(_shape(query), seek=seek)
                        rows = connection.execute(f"EXPLAIN QUERY PLAN {sql}", [*parameters, *marks, 2, 0])
                        plan = "\n".join(row[-1] for row in rows)
                        assert f"COVERING INDEX ix_contacts_by_{part} " in plan, (sql, plan)
                        assert "SEARCH contacts USING INTEGER PRIMARY KEY (rowid=?)" in plan, plan
                        assert "SCAN contacts" not in plan, plan
                        assert "status_" not in plan, plan


def test_a_filtered_listing_through_the_api(client: Any, named: list[str], tenant: Tenant) -> None:
    params = {"last_name": "Kim", "sort_column": "email", "sort_order": "D", "filter_by": "Status.Active"}
    everyone = client.get(CONTACTS, params=params, headers=tenant.headers).json()["customers"]
    assert everyone, "some active customers are named Kim"
    emails = [(row["email"], row["contact_id"]) for row in everyone]
    assert emails == sorted(emails, key=lambda pair: (pair[0], int(pair[1])), reverse=True)
    assert _paged(client, tenant, params, 2) == everyone


# ---- the value plan (storage/value_plan.py): a first or last name substring as the values that hold it --------

SUBSTRINGS = [("first_name_contains", t) for t in ("iv", "van", "a", "é", "mil", "zz", "ivana")] + [
    ("last_name_contains", t) for t in ("kim", "im", "ß", "weiss", "tel", "q")
]


def _agreeing(database: Database, tenant: Tenant, listings: list[list[Any]], read: Any) -> int:
    """How many of `listings`' pages hold rows; each, as `read` reads it, is the listing's own SQL's page."""
    compared = 0
    for params in listings:
        query = parse_list_query(params)
        rows = read(query)
        assert rows == listing_page(database, tenant.organization_id, query), params
        compared += bool(rows)
    return compared


def test_the_value_plan_leaves_varied_columns_and_broad_terms_to_the_substring_plans(
    client: Any, named: list[str], tenant: Tenant, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader = database.reader()
    query = parse_list_query([("first_name_contains", "iv"), ("sort_column", "email")])
    order_by = _sqlite_clauses(*_shape(query))[1]
    every = value_plan.values(reader, int(tenant.organization_id), "first_name_key")
    assert every == sorted({name.casefold() for name in FIRST})
    assert value_plan.read(reader, tenant.organization_id, query, order_by)
    monkeypatch.setattr(value_plan, "MOST", 3)  # more Ivans and Ivanas than that
    assert value_plan.read(reader, tenant.organization_id, query, order_by) is None
    # In name order a shallow page merges the values' runs, however many rows they hold; not with more than RUNS.
    by_name = parse_list_query([("first_name_contains", "iv")])
    name_order = _sqlite_clauses(*_shape(by_name))[1]
    merged = value_plan.read(reader, tenant.organization_id, by_name, name_order)
    assert merged == listing_page(database, tenant.organization_id, by_name)
    monkeypatch.setattr(value_plan, "RUNS", 1)  # two values hold `iv`: Ivan and Ivana
    assert value_plan.read(reader, tenant.organization_id, by_name, name_order) is None
    monkeypatch.setattr(value_plan, "RUNS", 64)
    monkeypatch.setattr(value_plan, "MOST", 10**6)
    monkeypatch.setattr(value_plan, "CAP", len(every) - 1)  # one value too many
    assert value_plan.values(reader, int(tenant.organization_id), "first_name_key") is None
    # The values found stay with the snapshot's state; a commit lets them go.
    assert value_plan.read(reader, tenant.organization_id, query, order_by)
    make_contact(client, tenant, contact_name="Late Ivan", first_name="Ivan")
    assert value_plan.read(reader, tenant.organization_id, query, order_by) is None
    repo = contacts_storage.ContactsRepo(reader=reader)
    assert repo.list_summaries(tenant.organization_id, query) == listing_page(
        database, tenant.organization_id, query
    )


def test_only_a_name_part_substring_takes_the_value_plan() -> None:
    def applies(*params: tuple[str, str]) -> bool:
        return value_plan.applies(parse_list_query(list(params)))

    assert applies(("first_name_contains", "iv"), ("filter_by", "Status.Active"), ("sort_column", "email"))
    assert not applies(("first_name_contains", "iv"), ("sort_column", "last_modified_time"))
    assert not applies(("email_contains", "iv"))
    assert not applies(("first_name_contains", "iv"), ("last_name", "kim"))
    assert not applies(("first_name_contains", "iv"), ("search_text", "kim"))
    assert not applies(("first_name", "ivan"))


def test_a_name_part_substring_through_the_api(client: Any, named: list[str], tenant: Tenant) -> None:
    params = {"first_name_contains": "IV", "sort_column": "created_time", "sort_order": "D"}
    everyone = client.get(CONTACTS, params=params, headers=tenant.headers).json()["customers"]
    assert everyone
    assert all("iv" in row["first_name"].casefold() for row in everyone)
    assert _paged(client, tenant, params, 3) == everyone


@pytest.mark.parametrize("part", value_plan.FIELDS)
def test_a_value_plan_page_reads_only_its_covering_index(database: Database, part: str) -> None:
    connection = database.reader().connection
    for status in (False, True):
        for sort in INDEXED_SORTS:
            for order in "AD":
                listed = [(f"{part}_contains", "iv"), ("sort_column", sort), ("sort_order", order)]
                query = parse_list_query(listed)
                backwards = sort == "email" and order == "D"
                order_by = _sqlite_clauses(*_shape(query))[1]
                seek = contacts_storage._value_seek("1", parse_list_query([*listed, ("page", "3")]))
                assert seek is not None
                for sought in (False, True):
                    sql = value_plan._page_sql(
                        f"{part}_key",
                        status,
                        order_by,
                        backwards=backwards,
                        seek=seek.clause if sought else "",
                        names=seek.names if sought else (),
                    )
                    mark = [None] * (1 if sort == "contact_name" else 3) if sought else []
                    parameters = [1, *(["active"] if status else []), '["ivan", "ivo"]', *mark, 2, 0]
                    plan = "\n".join(
                        row[-1] for row in connection.execute(f"EXPLAIN QUERY PLAN {sql}", parameters)
                    )
                    assert f"COVERING INDEX ix_contacts_by_{part} " in plan, plan
                    assert "SCAN contacts" not in plan, plan
                    assert "status_" not in plan, plan
                    assert ("AS matches" in sql) == backwards, sql
                # The values and their entries read in reverse (here from a mark), no sort before the page's.
                if backwards:
                    inner = sql[sql.index("FROM (") + len("FROM (") : sql.index(") AS matches")]
                    explained = list(connection.execute(f"EXPLAIN QUERY PLAN {inner}", parameters[:-2]))
                    assert not any("TEMP B-TREE" in row[-1] for row in explained), explained
                    opcodes = {row[1] for row in connection.execute(f"EXPLAIN {inner}", parameters[:-2])}
                    assert "Prev" in opcodes, inner
                    assert "Next" not in opcodes, inner


def _paged(client: Any, tenant: Tenant, params: dict[str, str], per_page: int) -> list[dict[str, Any]]:
    """Every customer of a listing, page by page until a page says there is no more."""
    seen: list[dict[str, Any]] = []
    for page in range(1, 1000):
        body = client.get(
            CONTACTS, params={**params, "page": page, "per_page": per_page}, headers=tenant.headers
        ).json()
        seen += body["customers"]
        if not body["page_context"]["has_more_page"]:
            return seen
    raise AssertionError("the pages never ended")


PREFIXES = [("first_name_startswith", p) for p in ("iv", "i", "é", "ada", "b", "zz", "")] + [
    ("last_name_startswith", p) for p in ("kim", "k", "w", "p")
]


@pytest.mark.parametrize("status", STATUSES, ids=lambda s: s[0][1] if s else "any status")
def test_value_plan_pages_are_the_listings(
    named: list[str], tenant: Tenant, database: Database, status: list[Any]
) -> None:
    """Substrings in every order the index carries, and prefixes in name order (their values' runs merged)."""
    reader = database.reader()

    def read(query: Any) -> list[bytes] | None:
        assert value_plan.serves(query)
        return value_plan.page(reader, tenant.organization_id, query, _sqlite_clauses(*_shape(query))[1])

    pages = [("page", str(page)) for page in (1, 2, 5, 30)]
    substrings = [[by, *status, ("sort_column", sort), ("sort_order", order), page, ("per_page", "2")]
                  for by in SUBSTRINGS for sort in INDEXED_SORTS for order in "AD" for page in pages]  # fmt: skip
    prefixes = [[by, *status, ("sort_order", order), page, ("per_page", "2")]
                for by in PREFIXES for order in "AD" for page in pages]  # fmt: skip
    assert _agreeing(database, tenant, substrings, read) > 80
    assert _agreeing(database, tenant, prefixes, read) > 30


@pytest.mark.parametrize("status", STATUSES[:2], ids=lambda s: s[0][1] if s else "any status")
def test_value_plan_deep_pages_seek_from_the_marks_they_leave(
    client: Any,
    named: list[str],
    tenant: Tenant,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
    status: list[Any],
) -> None:
    """A deep page the value plan reads leaves marks at its first and look-ahead rows; the page read again, the
    next one and one further on seek from them, and each is still the listing's own SQL's page, also after a
    commit (which lets the marks go) and on the API's path."""
    monkeypatch.setattr(contacts_storage, "PAGE_MARK_EVERY", 3)  # deep pages from the third row
    reader = database.reader()
    sought: list[bool] = []
    read = value_plan.read

    def spy(*args: Any) -> list[bytes] | None:
        seek = args[4]
        if seek is not None:
            with reader.snapshot() as facts:
                marks = facts.get(seek.listing)
                sought.append(marks is not None and marks.nearest(args[2].offset)[1] is not None)
        return read(*args)

    monkeypatch.setattr(value_plan, "read", spy)
    repo = contacts_storage.ContactsRepo(reader=reader)
    pages = ["4", "4", "5", "9", "2", "6", "6"]
    listings = [[by, *status, ("sort_column", sort), ("sort_order", order), ("per_page", "2")]
                for by in SUBSTRINGS[:2] + SUBSTRINGS[-5:-3] for sort in INDEXED_SORTS for order in "AD"]  # fmt: skip
    compared = 0
    for number, params in enumerate(listings):
        for round_ in range(2):
            for page in pages:
                query = parse_list_query([*params, ("page", page)])
                rows = repo.list_summaries(tenant.organization_id, query)
                assert rows == listing_page(database, tenant.organization_id, query), (params, page)
                compared += bool(rows)
            if round_ == 0:  # a new Ivan Kim comes first in some orders: every later row moves by one
                make_contact(
                    client, tenant, contact_name=f"Aa Ivan {number}", first_name="Ivan", last_name="Kim"
                )
    assert compared > 100
    # Each listing's first deep page found no mark; its repeat and the pages after it (but a page before the
    # first mark, 2) sought from one, until the commit.
    assert sought.count(True) > sought.count(False) > 0
    query = parse_list_query([*listings[0], ("page", "4")])
    repo.list_summaries(tenant.organization_id, query)
    with reader.snapshot() as facts:
        marks = facts[contacts_storage._marks_key(tenant.organization_id, query)]
        assert {6, 8} <= set(marks.ranks)  # page 4's first row and page 5's


def test_too_many_values_under_a_prefix_are_sorted_instead(
    named: list[str], tenant: Tenant, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader = database.reader()
    query = parse_list_query([("first_name_startswith", "i")])  # Ivan and Ivana
    assert value_plan.merged(reader, tenant.organization_id, query)
    monkeypatch.setattr(value_plan, "RUNS", 1)
    assert value_plan.merged(reader, tenant.organization_id, query) is None
    repo = contacts_storage.ContactsRepo(reader=reader)
    assert repo.list_summaries(tenant.organization_id, query) == listing_page(
        database, tenant.organization_id, query
    )
    assert not value_plan.merges(parse_list_query([("first_name_startswith", "i"), ("sort_column", "email")]))
    assert not value_plan.merges(parse_list_query([("email_startswith", "i")]))
    deep = parse_list_query([("first_name_startswith", "i"), ("per_page", "200"), ("page", "51")])
    assert not value_plan.merges(deep)  # past MERGED_OFFSET: from marks, as contacts._deep_page reads
