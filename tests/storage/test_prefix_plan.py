"""The prefix plan (storage/prefix_plan.py): a substring filter whose every match begins with the term is read as
the prefix filter, and its pages are exactly the listing's (every field with an index of its own, every order,
both directions, with and without status, deep pages, through renames, deletes and a queue not yet in the index).
It is taken only when the term's candidates are no more than the keys that begin with it, counted in the snapshot
the page is read in: a term inside some key, or a commit that puts it inside one, leaves the page to the other
plans."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import CONTACTS, Tenant, churned, listing_page, make_contact
from zcontacts.domain.listing import SORT_COLUMNS, ListQuery, parse_list_query
from zcontacts.storage import contacts as contacts_storage
from zcontacts.storage import prefix_plan, substring_plans
from zcontacts.storage.contacts import _prefix_page, _sqlite_page_rows, _term_key, term_match
from zcontacts.storage.database import Database, Reader
from zcontacts.storage.substring_plans import SCAN

pytestmark = pytest.mark.backends("sqlite")  # the plans are SQLite's hot reader's

FIRST = ["Ivan", "Ada", "Zed", "Bo"]
LAST = ["Kim", "Sivan", "Patel"]
COMPANIES = ["Apex Labs", "Acme", "Initech", "Apex Group", "Old Apex"]
# Per field: terms that only begin keys (the plan serves them), and terms that sit inside some key too or begin
# none (it does not).
ONLY_BEGIN = {
    "contact_name": ["zed", "ada", "bo"],
    "email": ["zed", "ada.", "bo."],
    "company_name": ["acme", "ini"],
}
NOT_ONLY = {
    "contact_name": ["ivan", "kim", "absent"],
    "email": ["ivan", "corp"],
    "company_name": ["apex", "labs"],
}
STATUSES = [[], [("filter_by", "Status.Active")]]


@pytest.fixture
def crowd(client: Any, tenant: Tenant, database: Database, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """90 customers; some inactive, some renamed or deleted after the index took them, some still queued. Every
    count is under prefix_plan.LEAST, so it is lowered to 1."""
    monkeypatch.setattr(prefix_plan, "LEAST", 1)
    rng = random.Random(11)
    bodies = []
    for n in range(90):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        bodies.append(
            {
                "contact_name": f"{first} {last} {n:02d}",
                "company_name": rng.choice(COMPANIES),
                "email": f"{first.lower()}.{last.lower()}{n % 5}@corp.com",
            }
        )
    renames = [{"contact_name": f"Zed Renamed {n}", "email": f"zed.r{n}@corp.com"} for n in range(6)]
    marking = "UPDATE contacts SET status = CASE WHEN rowid % 3 = 0 THEN 'inactive' ELSE 'active' END"
    return churned(client, tenant, database, bodies, renames, marking)


def _by_prefix(reader: Reader, organization_id: str, query: ListQuery) -> list[bytes] | None:
    term = query.filters[0].value
    match = term_match(reader.connection, term, _term_key(query))
    assert match is not None
    return _prefix_page(reader, organization_id, query, term, match, None)


def test_prefix_pages_are_the_listings(crowd: list[str], tenant: Tenant, database: Database) -> None:
    reader = database.reader()
    served = 0
    for field, terms in ONLY_BEGIN.items():
        for term in terms:
            for sort in SORT_COLUMNS:
                for order in "AD":
                    for status in STATUSES:
                        for page in (1, 2, 5):
                            params = [(f"{field}_contains", term), *status, ("sort_column", sort),
                                      ("sort_order", order), ("page", str(page)), ("per_page", "4")]  # fmt: skip
                            query = parse_list_query(params)
                            rows = _by_prefix(reader, tenant.organization_id, query)
                            assert rows is not None, params
                            assert rows == listing_page(database, tenant.organization_id, query), params
                            served += bool(rows)
    assert served > 250  # most pages hold rows


def test_a_term_inside_some_key_is_left_to_the_other_plans(
    crowd: list[str], tenant: Tenant, database: Database
) -> None:
    reader = database.reader()
    for field, terms in NOT_ONLY.items():
        for term in terms:
            query = parse_list_query([(f"{field}_contains", term), ("sort_column", "email")])
            assert _by_prefix(reader, tenant.organization_id, query) is None, (field, term)
    # Neither a search nor a filter beside another.
    search = parse_list_query([("search_text", "zed")])
    assert _prefix_page(reader, tenant.organization_id, search, "zed", "x", None) is None
    two = parse_list_query([("contact_name_contains", "zed"), ("email_contains", "zed")])
    assert _prefix_page(reader, tenant.organization_id, two, "zed", "x", None) is None
    # A short term no trigram holds: no query to count candidates with.
    short = parse_list_query([("contact_name_contains", "zq")])
    assert _prefix_page(reader, tenant.organization_id, short, "zq", "", None) is None


def test_the_counts_and_their_bounds(crowd: list[str], tenant: Tenant, database: Database) -> None:
    connection = database.reader().connection
    organization_id = tenant.organization_id
    match = term_match(connection, "zed", "contact_name_key")
    assert match is not None
    (run,) = connection.execute(
        "SELECT count(*) FROM contacts WHERE contact_name_key >= 'zed' AND contact_name_key < 'zee'"
    ).fetchone()
    assert run > 10

    def rows(estimate: float | None, facts: dict[Any, Any] | None = None) -> int | None:
        found = {} if facts is None else facts
        return prefix_plan.prefix_rows(
            connection, found, organization_id, "contact_name", "zed", match, estimate
        )

    assert rows(None) == run
    assert rows(float(run)) == run
    assert rows(2.0 * run + 1) is None  # the run holds under half the candidates estimated
    assert rows(2.0 * prefix_plan.MOST + 1) is None  # far too many candidates: not even counted
    assert rows(run / 2 - 1) is None  # counted no further than twice the estimate: not all of them
    # Kept in the snapshot's facts: a second look counts nothing.
    facts: dict[Any, Any] = {}
    assert rows(None, facts) == run
    facts[("prefix rows", organization_id, "contact_name", "zed")] = None
    assert rows(None, facts) is None


def test_a_commit_that_puts_the_term_inside_a_key_ends_the_plan(
    client: Any, crowd: list[str], tenant: Tenant, database: Database
) -> None:
    """The counts are the snapshot's: a new customer holding the term inside its name (queued, not yet in the
    trigram index) is a candidate outside the prefix, so the page goes to another plan and holds it."""
    reader = database.reader()
    query = parse_list_query(
        [("contact_name_contains", "zed"), ("sort_column", "email"), ("per_page", "200")]
    )
    assert _by_prefix(reader, tenant.organization_id, query) is not None
    made = make_contact(client, tenant, contact_name="Bo Kazed 99", email="aaa@corp.com")
    assert _by_prefix(reader, tenant.organization_id, query) is None
    rows = _sqlite_page_rows(reader, tenant.organization_id, query)
    assert rows == listing_page(database, tenant.organization_id, query)
    assert made["contact_id"].encode() in rows[0]  # first by email


def test_the_planner_reads_prefix_pages_first_in_their_own_order_and_after_an_overrun_in_others(
    client: Any, crowd: list[str], tenant: Tenant, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader = database.reader()
    taken: list[ListQuery] = []
    real = contacts_storage._prefix_page

    def spy(*args: Any) -> list[bytes] | None:
        rows = real(*args)
        if rows is not None:
            taken.append(args[2])
        return rows

    monkeypatch.setattr(contacts_storage, "_prefix_page", spy)
    # The candidates as the substring plans would estimate them (a sample's count, exact for so few).
    (zeds,) = reader.connection.execute(
        "SELECT count(*) FROM contacts WHERE instr(email_key, 'zed') > 0"
    ).fetchone()
    monkeypatch.setattr(
        contacts_storage, "substring_plan", _estimating(contacts_storage.substring_plan, zeds)
    )
    own = parse_list_query([("email_contains", "zed"), ("sort_column", "email"), ("sort_order", "D")])
    assert _sqlite_page_rows(reader, tenant.organization_id, own) == listing_page(
        database, tenant.organization_id, own
    )
    assert taken == [own]
    # In another order a walk comes first; past its deadline (here at once) the prefix plan reads the page.
    other = parse_list_query([("contact_name_contains", "ada"), ("sort_column", "email"), ("page", "2"), ("per_page", "3")])  # fmt: skip
    assert _sqlite_page_rows(reader, tenant.organization_id, other) == listing_page(
        database, tenant.organization_id, other
    )
    assert taken == [own]  # the walk read it
    monkeypatch.setattr(Reader, "within", lambda self, seconds, read: None)
    assert _sqlite_page_rows(reader, tenant.organization_id, other) == listing_page(
        database, tenant.organization_id, other
    )
    assert taken == [own, other]
    # Through the API too.
    response = client.get(
        CONTACTS,
        params={"email_contains": "zed", "sort_column": "email", "sort_order": "D", "per_page": 5},
        headers=tenant.headers,
    )
    emails = [row["email"] for row in response.json()["customers"]]
    assert emails == sorted(emails, reverse=True)
    assert emails
    assert all(email.startswith("zed") for email in emails)


def _estimating(real: Any, candidates: int) -> Any:
    def plan(*args: Any, **kwargs: Any) -> Any:
        return real(*args, **kwargs)._replace(candidates=float(candidates))

    return plan


def test_any_term_through_the_planner_reads_the_listings_page(
    crowd: list[str], tenant: Tenant, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Random terms, fields, orders and pages through the whole planner, with the prefix plan on for any count
    and walks overrunning at once or never: the page is the listing's own."""
    reader = database.reader()
    overrun = {"now": False}
    real_within = Reader.within

    def within(self: Reader, seconds: float, read: Any) -> Any:
        return None if overrun["now"] else real_within(self, seconds, read)

    monkeypatch.setattr(Reader, "within", within)
    letters = "zedaboivnkmsptlcr.@1"

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        term=st.text(alphabet=letters, min_size=1, max_size=5),
        field=st.sampled_from(["contact_name", "email", "company_name"]),
        sort=st.sampled_from(list(SORT_COLUMNS)),
        order=st.sampled_from("AD"),
        status=st.sampled_from(STATUSES),
        page=st.integers(1, 6),
        walks_overrun=st.booleans(),
    )
    def agree(
        term: str, field: str, sort: str, order: str, status: list[Any], page: int, walks_overrun: bool
    ) -> None:
        overrun["now"] = walks_overrun
        params = [(f"{field}_contains", term), *status, ("sort_column", sort), ("sort_order", order),
                  ("page", str(page)), ("per_page", "3")]  # fmt: skip
        query = parse_list_query(params)
        assert _sqlite_page_rows(reader, tenant.organization_id, query) == listing_page(
            database, tenant.organization_id, query
        ), params

    agree()


def test_a_deep_walk_from_the_start_that_overruns_leaves_the_listings_own_mark(
    crowd: list[str], tenant: Tenant, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A far walk's page (a deep page with no mark yet, contacts._walks_far) is read the trigram way, whose deep page
    leaves this listing's mark, so the next read walks from it; the prefix plan's would leave the prefix listing's
    mark and the next read would sort every match again (~100 ms over 1,000,000)."""
    monkeypatch.setattr(contacts_storage, "PAGE_MARK_EVERY", 3)
    real_plan = substring_plans.plan
    monkeypatch.setattr(  # a walk, as a page costed from the listing's start would get
        substring_plans, "plan", lambda *a, **k: real_plan(*a, **k)._replace(kind=SCAN, budget=30.0)
    )
    walks: list[float] = []
    real_within = Reader.within

    def within(self: Reader, seconds: float, read: Any) -> Any:
        walks.append(seconds)
        return None if len(walks) == 1 else real_within(self, seconds, read)  # the first walk overruns

    prefixed: list[Any] = []
    real_prefix = contacts_storage._prefix_page
    monkeypatch.setattr(Reader, "within", within)
    monkeypatch.setattr(contacts_storage, "_prefix_page", lambda *a: prefixed.append(a) or real_prefix(*a))
    query = parse_list_query(
        [
            ("contact_name_contains", "bo"),
            ("sort_column", "last_modified_time"),
            ("page", "3"),
            ("per_page", "3"),
        ]
    )
    expected = listing_page(database, tenant.organization_id, query)
    assert len(expected) == 4
    reader = database.reader()
    for _ in range(2):
        assert _sqlite_page_rows(reader, tenant.organization_id, query) == expected
    assert prefixed == []
    assert len(walks) == 2  # the second read walked (from the mark), it did not take the overrun as a hint
