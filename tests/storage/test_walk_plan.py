"""Filters by value or prefix (storage/walk_plan.py, migrations 0014 and 0015): a page is read either by a walk of
its order's index, testing each entry there, or by sorting the filter's matches found on its own index, as the
cost model chooses. Either way the rows are exactly the listing's own SQL's (every filter, every order, with and
without status, deep pages, after deletes, renames and touched times); the walk's SQL walks the order's index
without a sort, the sort's seeks the filter's index, neither takes a status index; a walk that overruns its
budget gives the page to the sort and the listing is remembered."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest

from tests.helpers import CONTACTS, Tenant, churned, listing_page, recorded_statements, varied_bodies
from zcontacts.domain.listing import SORT_COLUMNS, parse_list_query
from zcontacts.storage import contacts as contacts_storage
from zcontacts.storage import database as database_module
from zcontacts.storage import walk_plan
from zcontacts.storage.contacts import (
    _SORTED,
    _WALKED,
    _arrival,
    _by_filter_index,
    _filter_parameters,
    _mark_sql,
    _page_sql,
    _planned_ops,
    _rows_last,
    _rows_last_sql,
    _shape,
    _term_key,
    _trigram_query,
    _walked_page,
    _with_plan,
    seek_page_sql,
)
from zcontacts.storage.database import Database, Reader
from zcontacts.storage.substring_plans import MEMBER, SCAN, Plan

pytestmark = pytest.mark.backends("sqlite")  # the hot reader's SQL

TIMES = ["created_time", "last_modified_time"]
ORDERS = list(SORT_COLUMNS)
STATUSES = [[], [("filter_by", "Status.Active")], [("filter_by", "Status.Inactive")]]
FILTERS = [
    [("first_name", "ivan")],
    [("first_name_startswith", "iv")],
    [("last_name_startswith", "k")],
    [("email_startswith", "b")],
    [("phone", "555-0101")],
    [("phone_startswith", "555-01")],
    [("company_name", "acme")],
    [("company_name_startswith", "in")],
    [("contact_name_startswith", "zed")],
    [("contact_name", "mo 07")],
    [("first_name_startswith", "absent")],
    # Beside another filter, and beside substrings (tested on the walked entry, never by the trigram index).
    [("first_name", "ivan"), ("company_name", "initech")],
    [("company_name_startswith", "a"), ("last_name_contains", "im")],
    [("phone_startswith", "555"), ("email_contains", "1@c")],
    [("last_name", "kim"), ("first_name_contains", "v")],
]


@pytest.fixture
def timed(client: Any, tenant: Tenant, database: Database) -> list[str]:
    """90 customers with few distinct names, companies and phones, ties in both times, a third inactive, some
    deleted and some renamed after they were made (the renames take new times of last change)."""
    bodies = varied_bodies(90, 7)
    renames = [
        {"contact_name": f"Zed Renamed {n}", "first_name": "Ivan", "last_name": "Kim"} for n in range(6)
    ]
    marking = (
        "UPDATE contacts SET created_at_ms = 1000 + rowid % 5, updated_at_ms = 5000 - rowid % 4, "
        "status = CASE WHEN rowid % 3 = 2 THEN 'inactive' ELSE 'active' END"
    )
    return churned(client, tenant, database, bodies, renames, marking)


def _listings(status: list[Any]) -> list[list[Any]]:
    """Every filter in every order it is planned in (see walk_plan.ordered), pages deep and shallow."""
    pages = [("page", str(page)) for page in (1, 2, 4, 9, 40)]
    every = [[*by, *status, ("sort_column", sort), ("sort_order", order), page, ("per_page", "2")]
             for by in FILTERS for sort in ORDERS for order in "AD" for page in pages]  # fmt: skip
    return [params for params in every if walk_plan.applies(parse_list_query(params))]


@pytest.mark.parametrize("way", ["walk", "sort"])
@pytest.mark.parametrize("status", STATUSES, ids=lambda s: s[0][1] if s else "any status")
def test_pages_in_time_order_are_the_listings(
    timed: list[str],
    tenant: Tenant,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
    status: list[Any],
    way: str,
) -> None:
    monkeypatch.setattr(contacts_storage, "PAGE_MARK_EVERY", 3)  # deep pages (from marks) from the third row
    chosen: list[float | None] = []

    def choose(*args: Any, **kwargs: Any) -> walk_plan.Choice:
        walk = way == "walk"
        chosen.append(walk)
        return walk_plan.Choice(60.0 if walk else None, 0.0, 0.0)

    monkeypatch.setattr(walk_plan, "choose", choose)
    reader = database.reader()
    compared = 0
    for params in _listings(status):
        query = parse_list_query(params)
        assert walk_plan.applies(query)
        rows = _walked_page(reader, tenant.organization_id, query, _shape(query))
        assert rows == listing_page(database, tenant.organization_id, query), params
        compared += bool(rows)
    assert len(chosen) == len(_listings(status)) > 500
    assert compared > 300


def test_a_deep_page_is_costed_from_its_listings_nearest_mark(
    timed: list[str], tenant: Tenant, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(contacts_storage, "PAGE_MARK_EVERY", 3)
    wanted: list[int] = []
    real = walk_plan.choose

    def choose(matches: int, rows: int, want: int, **kwargs: Any) -> walk_plan.Choice:
        wanted.append(want)
        return real(matches, rows, want, **kwargs)

    monkeypatch.setattr(walk_plan, "choose", choose)
    reader = database.reader()
    query = parse_list_query(
        [
            ("company_name_startswith", "a"),
            ("sort_column", "last_modified_time"),
            ("page", "4"),
            ("per_page", "2"),
        ]
    )
    assert walk_plan.applies(query)
    expected = listing_page(database, tenant.organization_id, query)
    assert len(expected) == 3
    for _ in range(2):
        assert _walked_page(reader, tenant.organization_id, query, _shape(query)) == expected
    assert wanted == [9, 3]  # offset 6 and 3 rows: from the start, then from the mark at row 6


@pytest.mark.parametrize(
    "pages",
    [
        ["4", "4", "1"],  # the overrun walked from the listing's start
        ["3", "9", "9", "1"],  # from the mark page 3 left, far behind page 9
    ],
)
def test_a_deep_walk_from_far_behind_that_overruns_leaves_other_walks_alone(
    timed: list[str], tenant: Tenant, database: Database, monkeypatch: pytest.MonkeyPatch, pages: list[str]
) -> None:
    # It says how far it went more than where the rows sit: the sort's read leaves the page's mark, and the next
    # read walks from there; the listing's shallow pages still walk.
    monkeypatch.setattr(contacts_storage, "PAGE_MARK_EVERY", 3)
    monkeypatch.setattr(walk_plan, "choose", lambda *a, **k: walk_plan.Choice(60.0, 0.0, 0.0))
    walks: list[int] = []
    real_within = Reader.within
    overruns = len(pages) - 2  # the walk for the first deep page that has no mark of its own

    def within(self: Reader, seconds: float, read: Any) -> Any:
        walks.append(len(walks))
        return None if len(walks) == overruns else real_within(self, seconds, read)

    monkeypatch.setattr(Reader, "within", within)
    reader = database.reader()
    for page in pages:
        params = [("company_name_startswith", "a"), ("sort_column", "last_modified_time"), ("per_page", "2")]
        query = parse_list_query([*params, ("page", page)])
        expected = listing_page(database, tenant.organization_id, query)
        assert _walked_page(reader, tenant.organization_id, query, _shape(query)) == expected
    assert walks == list(range(len(pages)))  # every read walked


def test_a_walk_costed_from_a_mark_a_commit_took_leaves_no_overrun(
    client: Any, timed: list[str], tenant: Tenant, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The mark is read in one snapshot and the walk runs in the next: a commit in between sends the walk from the
    # listing's start. Its overrun must not condemn walks from the mark, which the next read has again.
    monkeypatch.setattr(contacts_storage, "PAGE_MARK_EVERY", 3)
    monkeypatch.setattr(walk_plan, "choose", lambda *a, **k: walk_plan.Choice(60.0, 0.0, 0.0))
    real_within, walks = Reader.within, []

    def within(self: Reader, seconds: float, read: Any) -> Any:
        walks.append(len(walks))
        if len(walks) == 2:  # the second read: a commit takes the mark, then its walk overruns
            client.post(CONTACTS, json={"contact_name": "Mark Taker"}, headers=tenant.headers)
            return None
        return real_within(self, seconds, read)

    monkeypatch.setattr(Reader, "within", within)
    reader = database.reader()
    params = [("company_name_startswith", "a"), ("sort_column", "created_time"), ("per_page", "2")]
    query = parse_list_query([*params, ("page", "4")])
    for _ in range(3):
        expected = listing_page(database, tenant.organization_id, query)
        assert _walked_page(reader, tenant.organization_id, query, _shape(query)) == expected
    assert walks == [0, 1, 2]  # the third read walked from the mark the second one's sort left


def test_the_cost_model_walks_common_filters_and_sorts_rare_ones() -> None:
    million = 1_000_000
    # One row in 40 (a common first name): page 1 after ~8,000 entries, ~1 ms; sorting 25,000 rows ~90 ms.
    common = walk_plan.choose(25_000, million, 201, entries_sort=False)
    assert common.budget is not None
    assert common.walk < 0.002 < 0.05 < common.sort
    # Counted past CAP, the sort's estimate is its least: a slower walk still pays.
    assert common.budget == pytest.approx(common.sort)
    counted = walk_plan.choose(15_000, million, 201, entries_sort=False)
    assert counted.budget == pytest.approx(counted.sort / 2)  # counted exactly: half the sort
    # A few hundred matches: sorting them beats walking a million entries.
    assert walk_plan.choose(300, million, 201, entries_sort=False).budget is None
    # Sorting index entries is ten times cheaper than reading rows: the crossover moves.
    assert walk_plan.choose(3_000, million, 201, entries_sort=False).budget is not None
    assert walk_plan.choose(3_000, million, 201, entries_sort=True).budget is None
    # Deep pages walk further.
    assert walk_plan.choose(3_000, million, 4_001, entries_sort=False).budget is None
    assert walk_plan.choose(0, million, 201, entries_sort=False).budget is None
    # Past CAP the sort's estimate is its least: a walk whose most is under WALK_CEILING is taken anyway.
    capped = walk_plan.CAP + 1
    assert walk_plan.choose(capped, million, 1_001, entries_sort=True, wide=True).budget is not None
    assert walk_plan.choose(capped - 2, million, 1_001, entries_sort=True, wide=True).budget is None
    assert walk_plan.choose(capped, million, 10_001, entries_sort=True, wide=True).budget is None
    assert walk_plan.choose(5, 5, 1, entries_sort=False, page=1).budget == walk_plan.MIN_BUDGET


def test_a_filter_by_value_or_prefix_is_planned_unless_its_index_holds_the_order() -> None:
    def applies(*params: tuple[str, str]) -> bool:
        return walk_plan.applies(parse_list_query(list(params)))

    assert applies(("company_name_startswith", "a"), ("sort_column", "created_time"))
    assert applies(("company_name_startswith", "a"))
    assert applies(("email_contains", "x"), ("phone", "1"), ("sort_column", "last_modified_time"))
    assert applies(("first_name_startswith", "a"), ("sort_column", "email"))
    assert applies(("phone_startswith", "+1-2"), ("sort_column", "company_name"))
    assert not applies(("first_name", "ivan"))  # its index is in name order (migration 0013)
    assert not applies(("company_name", "acme"), ("first_name", "ivan"), ("sort_column", "company_name"))
    assert not applies(("email_startswith", "a"), ("sort_column", "email"))
    assert not applies(("contact_name_startswith", "a"))
    assert not applies(("email_contains", "abc"), ("sort_column", "created_time"))  # substring plans
    assert not applies(("phone", "1"), ("search_text", "x"), ("sort_column", "created_time"))
    query = parse_list_query(
        [("email_startswith", "a"), ("last_name", "kim"), ("sort_column", "created_time")]
    )
    assert walk_plan.counted(query) == ("last_name", "eq", "kim")  # by value first: fewer to count


def test_a_count_holds_every_status_and_reads_the_narrowest_index(
    timed: list[str], tenant: Tenant, database: Database
) -> None:
    """A count (the walk plan's, storage/run_plan.py's, storage/prefix_plan.py's) is of every status, and a
    company's or an email's reads the status indexes, narrower than the keys' own."""
    organization_id = int(tenant.organization_id)
    for field in ("first_name", "last_name", "email", "phone", "company_name", "contact_name"):
        values = [row[0] for row in database.fetch(f"SELECT DISTINCT {field}_key FROM contacts", [])]
        for value in [*values, "", "absent"]:
            for op, tested in (("eq", [value]), ("startswith", [value[:1], value[:1] + "\U0010ffff"])):
                sql = walk_plan.count_sql(field, op)
                where = f"{field}_key = ?" if op == "eq" else f"{field}_key >= ? AND {field}_key < ?"
                (expected,) = database.fetch(
                    f"SELECT count(*) FROM contacts WHERE organization_id = ? AND {where}",
                    [organization_id, *tested],
                )[0]
                assert database.fetch(sql, [organization_id, *tested, 10**6])[0][0] == expected, (
                    field,
                    op,
                    value,
                )
                assert database.fetch(sql, [organization_id, *tested, 2])[0][0] == min(expected, 2)
        plan = _plan(database, walk_plan.count_sql(field, "startswith"), [organization_id, "a", "b", 5])
        assert ("status_" in plan) == (field in walk_plan.BY_STATUS), plan
        assert "COVERING INDEX" in plan, plan


def _plan(database: Database, sql: str, parameters: list[Any]) -> str:
    rows = database.reader().connection.execute(f"EXPLAIN QUERY PLAN {sql}", parameters)
    return "\n".join(row[-1] for row in rows)


ORDER_INDEX = {
    "created_time": "ix_contacts_by_creation",
    "last_modified_time": "ix_contacts_by_change",
    "contact_name": "ix_contacts_name_pages",
    "company_name": "ix_contacts_by_company",
    "email": "ix_contacts_by_email",
}


@pytest.mark.parametrize("sort", ORDERS)
def test_a_walk_reads_the_orders_index_in_order_and_a_sort_the_filters_index(
    database: Database, tenant: Tenant, sort: str
) -> None:
    for by in FILTERS:
        for status in STATUSES:
            for order in "AD":
                query = parse_list_query([*by, *status, ("sort_column", sort), ("sort_order", order)])
                if not walk_plan.applies(query):
                    continue
                shape = _shape(query)
                walked, sorted_shape = _planned_ops(shape, _WALKED), _planned_ops(shape, _SORTED)
                walk_parameters = _filter_parameters(tenant.organization_id, query, Plan(SCAN))
                marks = [None] * (1 if sort == "contact_name" else 3)
                for sql, parameters in (
                    (_page_sql(walked), [*walk_parameters, 2, 0]),
                    (seek_page_sql(walked), [*walk_parameters, *marks, 2, 0]),
                    (_mark_sql(walked, from_mark=True), [*walk_parameters, *marks, 0]),
                ):
                    plan = _plan(database, sql, parameters)
                    assert f"INDEX {ORDER_INDEX[sort]} " in plan, (sql, plan)
                    assert "TEMP B-TREE" not in plan, plan
                    assert "status_" not in plan, plan
                    assert "contacts_fts" not in plan, plan  # substrings tested on the entry
                parameters = _filter_parameters(tenant.organization_id, query)
                sorts = [
                    (_page_sql(sorted_shape), [2, 0]),
                    (_mark_sql(sorted_shape, from_mark=True), [*marks, 0]),
                ]
                if _by_filter_index(shape):
                    sorts.append((_rows_last_sql(shape, seek=True), [*marks, 2, 0]))
                for sql, more in sorts:
                    plan = _plan(database, sql, [*parameters, *more])
                    assert ORDER_INDEX[sort] not in plan, (sql, plan)
                    assert "status_" not in plan, plan
                    assert not re.search(r"SCAN contacts\b", plan), plan  # no walk of the table


def _reads_backwards(by: list[Any], sort: str, order: str) -> bool:
    """Whether a listing's sort reads its filter's index backwards (see contacts._arrival)."""
    field = by[0][0].removesuffix("_startswith")
    exact = field == by[0][0]
    # Not where the index holds the order already (a name or an email by itself, a name part's value by name),
    # nor for a name's value, which is unique: one match.
    held = (
        sort == field
        or (exact and field != "email" and sort == "contact_name")
        or (exact and field == "contact_name")
    )
    one = len(by) == 1 and field in ("first_name", "last_name", "email", "contact_name")
    return order == "D" and sort in ("contact_name", "email") and one and not held


def test_a_descending_name_or_email_sort_reads_its_filters_index_backwards(
    database: Database, tenant: Tenant
) -> None:
    """A first name, last name, email or name filter's matches come from its index roughly in name and email
    order (names and emails are made of each other), so a descending sort by either reads the index backwards
    (over 1,000,000 customers `first_name=ivan` by email descending 36 -> 15 ms); any other listing sorts as it
    did. The rows are the listing's own: test_pages_in_time_order_are_the_listings and
    tests/storage/test_filter_index_pages.py read them through this SQL."""
    backwards = 0
    for by, status, sort, order in itertools.product(FILTERS, STATUSES, ORDERS, "AD"):
        query = parse_list_query([*by, *status, ("sort_column", sort), ("sort_order", order)])
        shape = _shape(query)
        if not _by_filter_index(shape) and walk_plan.applies(query):
            shape = _planned_ops(shape, _SORTED)  # as _walked_page hands a sort to _read_page
        if not _rows_last(shape):
            continue
        expected = _reads_backwards(by, sort, order)
        assert (_arrival(shape) is not None) == expected, (by, sort, order)
        parameters = _filter_parameters(tenant.organization_id, query)
        marks = [None] * (1 if sort == "contact_name" else 3)
        for seek in (False, True):
            sql = _rows_last_sql(shape, seek=seek)
            assert ("AS matches" in sql) == expected, sql
            if not expected:
                continue
            backwards += 1
            inner = sql[sql.index("FROM (") + len("FROM (") : sql.index(") AS matches")]
            inner_parameters = [*parameters, *(marks if seek else [])]
            plan = _plan(database, inner, inner_parameters)
            assert "TEMP B-TREE" not in plan, (inner, plan)  # the index's order
            assert "status_" not in plan, plan
            steps = database.reader().connection.execute(f"EXPLAIN {inner}", inner_parameters)
            opcodes = {row[1] for row in steps}
            assert "Prev" in opcodes, inner  # read backwards
            assert "Next" not in opcodes, inner
    assert backwards >= 20


@pytest.mark.parametrize("on_storage", [False, True])
def test_a_walk_past_its_budget_gives_the_page_to_the_sort_and_is_remembered(
    timed: list[str], tenant: Tenant, database: Database, monkeypatch: pytest.MonkeyPatch, on_storage: bool
) -> None:
    reader = database.reader()
    query = parse_list_query(
        [("first_name", "ivan"), ("sort_column", "last_modified_time"), ("per_page", "3")]
    )
    expected = listing_page(database, tenant.organization_id, query)
    walks: list[Any] = []
    real_within = Reader.within

    def within(self: Reader, seconds: float, read: Any) -> Any:
        walks.append(seconds)
        # The walk ran past its deadline; on_storage: while pages came from storage (a cold cache).
        self._stopped_cold = on_storage
        return None

    monkeypatch.setattr(walk_plan, "choose", lambda *a, **k: walk_plan.Choice(0.01, 0.0, 0.0))
    monkeypatch.setattr(Reader, "within", within)
    monkeypatch.setattr(database_module, "COLD_UNEVEN_SECONDS", 0.0)
    assert _walked_page(reader, tenant.organization_id, query, _shape(query)) == expected
    assert _walked_page(reader, tenant.organization_id, query, _shape(query)) == expected
    # The second read went straight to the sort, unless the first waited on storage: then it walks again soon.
    assert walks == ([0.01, 0.01] if on_storage else [0.01])
    monkeypatch.setattr(Reader, "within", real_within)
    other = parse_list_query([("first_name", "ivan"), ("sort_column", "created_time"), ("per_page", "3")])
    assert _walked_page(reader, tenant.organization_id, other, _shape(other)) == listing_page(
        database, tenant.organization_id, other
    )


def test_a_filter_in_time_order_through_the_api(
    client: Any, timed: list[str], tenant: Tenant, database: Database
) -> None:
    params = {"company_name_startswith": "in", "sort_column": "last_modified_time", "sort_order": "D"}
    everyone: list[dict[str, Any]] = []
    for page in range(1, 100):
        body = client.get(
            CONTACTS, params={**params, "page": page, "per_page": 4}, headers=tenant.headers
        ).json()
        assert body["code"] == 0
        everyone += body["customers"]
        if not body["page_context"]["has_more_page"]:
            break
    assert everyone
    assert all(row["company_name"].casefold().startswith("in") for row in everyone)
    # In the order of the stored times (the fixture set them beside the rendered ones), ties by id.
    times = dict(database.fetch("SELECT contact_id, updated_at_ms FROM contacts", []))
    order = [(times[int(row["contact_id"])], int(row["contact_id"])) for row in everyone]
    assert order == sorted(order, reverse=True)
    whole = client.get(CONTACTS, params={**params, "per_page": 200}, headers=tenant.headers).json()
    assert [row["contact_id"] for row in whole["customers"]] == [row["contact_id"] for row in everyone]


def test_the_sort_reads_the_filters_index_whatever_the_status(
    timed: list[str], tenant: Tenant, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a status beside the filter, the sort's SQL keeps SQLite off the status indexes (over 1,000,000
    customers one took `phone_startswith=+1-555` in last-change order 60-90 ms by walking the status's range)."""
    reader = database.reader()
    monkeypatch.setattr(walk_plan, "choose", lambda *a, **k: walk_plan.Choice(None, 0.0, 0.0))
    statements = recorded_statements(monkeypatch)
    for sort in TIMES:
        query = parse_list_query(
            [("phone_startswith", "555"), ("filter_by", "Status.Active"), ("sort_column", sort)]
        )
        expected = listing_page(database, tenant.organization_id, query)
        assert _walked_page(reader, tenant.organization_id, query, _shape(query)) == expected
        assert "+contacts.status = ?" in statements[-1], statements[-1]
        assert f"INDEX {ORDER_INDEX[sort]} " not in _plan(
            database, statements[-1], [*_filter_parameters(tenant.organization_id, query), 201, 0]
        )


@pytest.mark.parametrize("sort", ORDERS)
def test_substring_walks_test_the_orders_index_entries(database: Database, tenant: Tenant, sort: str) -> None:
    """A search's or a substring filter's walk (storage/substring_plans.py) in any order, with or without status,
    walks that order's index without a sort or a status index: it carries the key and the status (migrations 0012
    and 0014-0016)."""
    for by in [("search_text", "acme"), ("phone_contains", "555"), ("company_name_contains", "ini")]:
        for status in STATUSES:
            for kind in (SCAN, MEMBER):
                query = parse_list_query([by, *status, ("sort_column", sort), ("sort_order", "D")])
                plan = Plan(kind, match=_trigram_query(by[1], _term_key(query)))
                sql = _page_sql(_with_plan(_shape(query), kind))
                parameters = [*_filter_parameters(tenant.organization_id, query, plan), 2, 0]
                explained = _plan(database, sql, parameters)
                assert f"INDEX {ORDER_INDEX[sort]} " in explained, (sql, explained)
                assert "TEMP B-TREE" not in explained, explained
                assert "status_" not in explained, explained


def test_every_orders_index_carries_the_keys_a_walk_tests(database: Database) -> None:
    tested = {
        f"{part}_key"
        for part in ("contact_name", "company_name", "first_name", "last_name", "email", "phone")
    }
    tested |= {"status", "search_key"}
    for index in ORDER_INDEX.values():
        rows = database.reader().connection.execute(f"PRAGMA index_info({index})").fetchall()
        assert tested <= {row[2] for row in rows}, index


def test_the_walk_count_is_kept_across_commits_a_while(
    client: Any, timed: list[str], tenant: Tenant, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The count only chooses the plan, and every commit empties SQLite's page cache: counting again after each
    # write cost 1-2 ms over 1,000,000 customers. A stale count costs time, never an answer.
    statements = recorded_statements(monkeypatch)
    reader = database.reader()
    query = parse_list_query([("company_name_startswith", "a"), ("sort_column", "created_time")])

    def read() -> list[str]:
        statements.clear()
        assert _walked_page(reader, tenant.organization_id, query, _shape(query)) == listing_page(
            database, tenant.organization_id, query
        )
        return [sql for sql in statements if sql.startswith("SELECT count(*)")]

    kept = database_module.ESTIMATE_SECONDS
    monkeypatch.setattr(database_module, "ESTIMATE_SECONDS", 0.0)  # out of date as soon as counted
    assert len(read()) == 1
    assert len(read()) == 1
    monkeypatch.setattr(database_module, "ESTIMATE_SECONDS", kept)
    assert len(read()) == 1
    client.post(CONTACTS, json={"contact_name": "Also Acme", "company_name": "Acme"}, headers=tenant.headers)
    assert read() == []  # the new customer is on the page all the same, counted or not


def test_estimates_expire_and_are_bounded(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    reader = database.reader()
    counted: list[str] = []

    def count(key: str) -> int:
        return reader.estimate(key, lambda: counted.append(key) or len(counted))

    assert count("a") == count("a") == 1
    monkeypatch.setattr(database_module, "ESTIMATES_KEPT", 2)
    count("b")
    count("c")  # "a" goes: the oldest
    assert count("a") == 4
    assert counted == ["a", "b", "c", "a"]
    monkeypatch.setattr(database_module, "ESTIMATE_SECONDS", 0.0)  # out of date as soon as counted
    count("d")
    count("d")
    assert counted[-2:] == ["d", "d"]
