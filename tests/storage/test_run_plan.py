"""The run plan (storage/run_plan.py): a page read as the run of keys that start with the term, merged with the
term's rows outside it, is exactly the listing's page (every sort it serves, both orders, with and without status,
deep pages, through renames, deletes and a queue not yet in the index); it is chosen where a walk would meet the
run late, and left to the other plans where the run is short, comes early or leaves too many rows outside."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import Tenant, churned, listing_page, make_contact
from zcontacts.domain.listing import ListQuery, parse_list_query
from zcontacts.errors import ZohoError
from zcontacts.storage import run_plan, substring_plans
from zcontacts.storage.contacts import _sqlite_page_rows, _term_key, term_match
from zcontacts.storage.database import Database
from zcontacts.storage.substring_plans import LISTED, MEMBER, SCAN, TRIGRAM, Plan

pytestmark = pytest.mark.backends("sqlite")  # the plans are SQLite's hot reader's

FIRST = ["Ivan", "Ivana", "Ada", "Zed", "Olivia", "Bo", "Émile", "Straße"]
LAST = ["Ivanov", "Adams", "Sivan", "Kim", "Zedd", "Weiß"]
# Terms that start many keys (and sit inside others), rare, absent, short, case-folded.
TERMS = ["ivan", "iva", "iv", "i", "ada", "zed", "olivia", "ivanov", "sivan", "kim", "émile", "strasse", "ss",
         "weiss", "absent", "gmail", "p1", "corp", "x"]  # fmt: skip
SEARCHED = ["search_text", "contact_name_contains", "company_name_contains", "email_contains"]
LISTINGS = [
    *[[("sort_column", c), ("sort_order", o)] for c in run_plan.SORT_KEYS for o in "AD"],
    [("filter_by", "Status.Active")],
    [("filter_by", "Status.Inactive"), ("sort_column", "email"), ("sort_order", "D")],
    [("filter_by", "Status.Inactive"), ("sort_column", "company_name")],
]


@pytest.fixture
def crowd(client: Any, tenant: Tenant, database: Database) -> list[str]:
    """90 customers whose names, companies and emails start with repeated words (runs) and hold them inside too
    (leftovers), with ties in company and email, some inactive, some renamed or deleted after the index took
    them, and some still queued."""
    rng = random.Random(7)
    bodies = [
        {
            "contact_name": f"{rng.choice(FIRST)} {rng.choice(LAST)} {n:02d}",
            "company_name": f"{rng.choice(FIRST + LAST)} Ltd",
            "email": f"{rng.choice(FIRST).lower()}{n % 7}@{rng.choice(['gmail', 'corp'])}.com",
        }
        for n in range(90)
    ]
    renames = [
        {"contact_name": f"{rng.choice(LAST)} Renamed {n}", "email": f"ivan{n}@corp.com"} for n in range(8)
    ]
    marking = "UPDATE contacts SET status = CASE WHEN rowid % 4 = 0 THEN 'inactive' ELSE 'active' END"
    return churned(client, tenant, database, bodies, renames, marking)


def _run_page(
    database: Database, organization_id: str, query: ListQuery, *, apart: bool = False
) -> list[bytes] | None:
    """The page by the run plan; `apart`: find the leftovers by setting the run's ids apart even when the counts
    say there are none (as when another organization's rows are candidates too)."""
    reader = database.reader()
    if not query.search_text and not query.filters:
        return None  # a blank search is no search: nothing to plan
    term = query.search_text or query.filters[0].value
    match = term_match(reader.connection, term, _term_key(query))
    if not match:
        return None  # no FTS5 query to find leftovers with: the planner never offers the run then
    sort = run_plan.sort_key(query)
    assert sort is not None
    with reader.snapshot():
        run = -1 if apart else run_plan._run_rows(reader.connection, organization_id, sort, term, 10**9)
        return run_plan.page(reader, organization_id, query, term, _term_key(query), match, run)


def test_the_run_plan_reads_the_listings_pages(
    crowd: list[str], tenant: Tenant, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared = 0
    for term in TERMS:
        for where in SEARCHED:
            for listing in LISTINGS:
                for page in (1, 2, 4, 9):
                    params = [*listing, (where, term), ("page", str(page)), ("per_page", "3")]
                    query = parse_list_query(params)
                    if run_plan.sort_key(query) is None:
                        continue
                    rows = _run_page(database, tenant.organization_id, query)
                    if rows is None:
                        continue
                    expected = listing_page(database, tenant.organization_id, query)
                    assert rows == expected, params
                    assert _run_page(database, tenant.organization_id, query, apart=True) == expected, params
                    compared += bool(rows)
    assert compared > 300  # many pages hold rows: the terms are not all absent


def test_only_listings_whose_key_holds_the_sort_key_take_the_run() -> None:
    def sort(*params: tuple[str, str]) -> str | None:
        return run_plan.sort_key(parse_list_query(list(params)))

    assert sort(("search_text", "ivan")) == "contact_name_key"
    assert sort(("search_text", "ivan"), ("sort_column", "email")) == "email_key"
    assert sort(("search_text", "ivan"), ("sort_column", "created_time")) is None
    assert sort(("company_name_contains", "ivan"), ("sort_column", "company_name")) == "company_name_key"
    # A first name does not begin the contact's name: a run of names says nothing of first names.
    assert sort(("first_name_contains", "iv")) is None
    assert sort(("email_contains", "iv")) is None


def test_too_many_rows_outside_the_run_leave_the_page_to_other_plans(
    crowd: list[str], tenant: Tenant, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    query = parse_list_query([("search_text", "ivan")])
    assert _run_page(database, tenant.organization_id, query) is not None
    monkeypatch.setattr(run_plan, "LEFTOVERS", 1)  # `ivan` is inside Sivan, Ivanov and the renamed emails too
    assert _run_page(database, tenant.organization_id, query) is None


def test_the_run_is_chosen_where_a_walk_meets_it_late(
    crowd: list[str], tenant: Tenant, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = database.reader().connection
    organization_id = tenant.organization_id
    ivan = parse_list_query([("search_text", "ivan")])
    match = term_match(connection, "ivan", "search_key")
    (run,) = connection.execute(
        "SELECT count(*) FROM contacts WHERE contact_name_key >= 'ivan' AND contact_name_key < 'ivao'"
    ).fetchone()
    assert run > 10
    # As the planner would estimate a term whose rows are mostly in its run.
    candidates = run + 3
    walk = Plan(MEMBER, budget=1.0, match=match, candidates=float(candidates), cost=100.0)
    # The walk passes the Adas, Bos and Émiles before the first Ivan: more than NEAR rows.
    monkeypatch.setattr(run_plan, "NEAR", 5)
    assert run_plan.worth(connection, organization_id, ivan, "ivan", run=run, chosen=walk)
    # Descending, a walk passes the Zeds, Straßes, Olivias and the renamed first: late too.
    descending = parse_list_query([("search_text", "ivan"), ("sort_order", "D")])
    assert run_plan.worth(connection, organization_id, descending, "ivan", run=run, chosen=walk)
    # Met soon: the walk is left to it.
    monkeypatch.setattr(run_plan, "NEAR", 10**6)
    assert not run_plan.worth(connection, organization_id, ivan, "ivan", run=run, chosen=walk)
    # No key starts with the term: nothing to read as a run.
    absent = parse_list_query([("search_text", "vanov")])
    assert not run_plan.worth(
        connection, organization_id, absent, "vanov", run=0, chosen=walk._replace(candidates=1.0)
    )
    # Against the trigram plan, by cost: a cheap one is not looked past, a dear one is when the run is cheaper.
    monkeypatch.setattr(run_plan, "NEAR", 5)
    assert not run_plan.worth(connection, organization_id, ivan, "ivan", run=run, chosen=Plan(LISTED, match=match, candidates=float(candidates), cost=10.0))  # fmt: skip
    dear = Plan(TRIGRAM, match=match, candidates=float(candidates), cost=10**6)
    assert run_plan.worth(connection, organization_id, ivan, "ivan", run=run, chosen=dear)
    # Far more candidates than the run could hold, or than it plus LEFTOVERS: no look at the run.
    assert not run_plan.worth(
        connection, organization_id, ivan, "ivan", run=run, chosen=dear._replace(candidates=10.0**7)
    )
    monkeypatch.setattr(run_plan, "LEFTOVERS", 0)
    assert not run_plan.worth(
        connection, organization_id, ivan, "ivan", run=run, chosen=walk._replace(candidates=candidates + 5.0)
    )


def test_the_served_listing_reads_a_late_run_by_the_run_plan(
    client: Any, tenant: Tenant, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the hot reader's planner (a walk chosen, the run late in it): the run plan reads the page, and the
    page is the listing's."""
    for n in range(40):
        name = f"Ada Kim {n}" if n % 8 else f"Ivan Kim {n}"
        make_contact(client, tenant, contact_name=name, company_name="Acme", email=f"p{n}@corp.com")
    monkeypatch.setattr(run_plan, "NEAR", 5)
    monkeypatch.setattr(substring_plans, "plan", _walking(substring_plans.plan))
    served: list[ListQuery] = []
    real_page = run_plan.page

    def page(*args: Any) -> list[bytes] | None:
        served.append(args[2])
        return real_page(*args)

    monkeypatch.setattr(run_plan, "page", page)
    reader = database.reader()
    for params in ([("search_text", "ivan")], [("search_text", "ivan"), ("page", "2"), ("per_page", "3")],
                   [("contact_name_contains", "ada"), ("sort_order", "D"), ("page", "3"), ("per_page", "7")]):  # fmt: skip
        query = parse_list_query(params)
        rows = _sqlite_page_rows(reader, tenant.organization_id, query)
        assert rows == listing_page(database, tenant.organization_id, query)
        assert served, params
        assert served[-1] == query, params


def _walking(real: Any) -> Any:
    """The planner, but a walk whatever it estimated (a tiny set makes every plan cheap)."""

    def plan(*args: Any, **kwargs: Any) -> Plan:
        return real(*args, **kwargs)._replace(kind=SCAN, budget=30.0)

    return plan


def test_the_run_plan_agrees_with_the_listing_on_any_term(
    client: Any, tenant: Tenant, database: Database
) -> None:
    """Random terms (pieces of the stored keys, often their start, or random text): the run plan reads exactly
    the rows whose key holds the term, in the listing's order."""
    rng = random.Random(3)
    words = [
        "Straße",
        "STRASSE",
        "İstanbul",
        "Ωmega",
        "ﬁne",
        "Café",
        "cafe",
        "日本語",
        "O'Neil",
        "ΣΊΣΥΦΟΣ",
        "Ǆemal",
    ]
    for n in range(40):
        make_contact(client, tenant, contact_name=f"{rng.choice(words)} {rng.choice(words)} {n}",
                     company_name=rng.choice(words), email=f"{rng.choice(['x', 'ss'])}{n}@corp.com")  # fmt: skip
    keys = [row[0] for row in database.fetch("SELECT search_key FROM contacts", ())]
    alphabet = "".join(sorted(set("".join(keys)) - {"\x1f"})) + "ssSΣσς"

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def agree(data: st.DataObject) -> None:
        if data.draw(st.booleans()):
            key = data.draw(st.sampled_from(keys))
            start = data.draw(st.sampled_from([0, 0, max(0, len(key) - 3)]))
            term = key[start : start + data.draw(st.integers(1, 9))]
        else:
            term = data.draw(st.text(alphabet=alphabet, min_size=1, max_size=6))
        sort = data.draw(st.sampled_from(list(run_plan.SORT_KEYS)))
        try:
            query = parse_list_query([("search_text", term), ("sort_column", sort), ("per_page", "4"),
                                      ("sort_order", data.draw(st.sampled_from("AD"))),
                                      ("page", data.draw(st.sampled_from("123")))])  # fmt: skip
        except ZohoError:
            return  # refused as a parameter (blank once trimmed)
        rows = _run_page(database, tenant.organization_id, query, apart=data.draw(st.booleans()))
        if rows is not None:
            assert rows == listing_page(database, tenant.organization_id, query), (term, sort)

    agree()
