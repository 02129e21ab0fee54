"""A prefix's range of keys is exact: `[term, run_plan.past(term))` holds every key that begins with the term,
including one where U+10FFFF (the greatest code point) follows it, which `term + U+10FFFF` as the bound used to
leave out. Read through the API on every backend, against the keys in Python; and through each of SQLite's plans
that count or read a prefix's range (prefix, run, value and band plans)."""

from __future__ import annotations

import contextlib
import sqlite3
from typing import Any

import msgspec
import pytest

from tests.helpers import CONTACTS, Tenant, make_contact
from zcontacts.domain.listing import SORT_COLUMNS, parse_list_query
from zcontacts.storage import band_plan, prefix_plan, run_plan, search_index, value_plan
from zcontacts.storage.contacts import (
    _band_page,
    _prefix_page,
    _shape,
    _sqlite_clauses,
    _term_key,
    term_match,
)
from zcontacts.storage.database import Database

TOP = "\U0010ffff"
# (contact name, first name, company, email): prefixes followed by U+10FFFF, by other text, and keys of U+10FFFF.
PEOPLE = [
    (f"Ivan{TOP} Top", f"Ivan{TOP}", f"Apex{TOP} Labs", "ivan.top@corp.com"),
    (f"Ivan{TOP} Away", "Away", "Away Co", "away@corp.com"),  # its email outside its name's band
    ("Ivan Cole", "Ivan", "Apex Group", "ivan.cole@corp.com"),
    ("Ivanka Moe", "Ivanka", "Acme", "ivanka.moe@corp.com"),
    ("Ivao Next", "Ivao", "Apey", "ivao.next@corp.com"),
    ("Ivam Before", "Ivam", "Apew", "ivam.before@corp.com"),
    (f"{TOP} Star", TOP, f"{TOP}Co", "star@corp.com"),
    (f"{TOP}{TOP} Double", f"{TOP}{TOP}", f"{TOP}{TOP}", "double@corp.com"),
    ("Zed", "Zed", "Zeta", "zed@corp.com"),
]
FIELDS = {"contact_name": 0, "first_name": 1, "company_name": 2}
TERMS = ["ivan", "iva", f"ivan{TOP}", TOP, TOP * 2, TOP * 3, "apex", f"apex{TOP}", "z"]


@pytest.fixture
def people(client: Any, tenant: Tenant) -> dict[str, tuple[str, ...]]:
    """The customers by id."""
    made = {}
    for person in PEOPLE:
        name, first, company, email = person
        body = {"contact_name": name, "first_name": first, "company_name": company, "email": email}
        made[make_contact(client, tenant, **body)["contact_id"]] = person
    return made


def _expected(people: dict[str, tuple[str, ...]], field: str, term: str) -> set[str]:
    return {
        cid for cid, person in people.items() if person[FIELDS[field]].strip().casefold().startswith(term)
    }


def test_every_key_that_begins_with_the_prefix_is_listed(
    client: Any, tenant: Tenant, people: dict[str, tuple[str, ...]]
) -> None:
    found = 0
    for field in FIELDS:
        for term in TERMS:
            expected = _expected(people, field, term)
            found += len(expected)
            for sort in SORT_COLUMNS:
                for order in "AD":
                    params = {f"{field}_startswith": term, "sort_column": sort, "sort_order": order}
                    response = client.get(CONTACTS, params=params, headers=tenant.headers)
                    assert response.status_code == 200, response.text
                    listed = [c["contact_id"] for c in response.json()["customers"]]
                    assert sorted(listed) == sorted(expected), (params, listed)
    assert found > 20


def test_the_bound_past_a_prefix() -> None:
    assert run_plan.past("ivan") == "ivao"
    assert run_plan.past(f"ivan{TOP}") == "ivao"
    assert isinstance(run_plan.past(TOP * 2), bytes)  # no text follows every key of U+10FFFF alone


def _page_agrees(people: dict[str, tuple[str, ...]], rows: list[bytes] | None, field: str, term: str) -> None:
    """The plan's rows (a page of 200: all of them) are the customers whose key begins with the term."""
    assert rows is not None, (field, term)
    ids = [msgspec.json.decode(bytes(row))["contact_id"] for row in rows]
    assert sorted(ids) == sorted(_expected(people, field, term)), (field, term)


@pytest.mark.backends("sqlite")
def test_sqlite_s_plans_read_the_whole_range(
    people: dict[str, tuple[str, ...]],
    tenant: Tenant,
    database: Database,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every key in the trigram index, none queued: the run plan finds no leftovers when the run is all candidates.
    with contextlib.closing(
        sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    ) as raw:
        search_index.apply_step(raw)
    monkeypatch.setattr(prefix_plan, "LEAST", 1)
    monkeypatch.setattr(band_plan, "LEAST", 1)
    reader = database.reader()
    org = tenant.organization_id
    for field, term in [("contact_name", "ivan"), ("company_name", "apex")]:
        # The prefix plan: every candidate begins with the term, counted by its range.
        query = parse_list_query([(f"{field}_contains", term), ("per_page", "200")])
        match = term_match(reader.connection, term, _term_key(query))
        assert match is not None
        _page_agrees(people, _prefix_page(reader, org, query, term, match, None), field, term)
        # The run plan: the run of keys beginning with the term, in that key's order.
        query = parse_list_query([(f"{field}_contains", term), ("sort_column", field), ("per_page", "200")])
        sort = run_plan.sort_key(query)
        assert sort is not None
        with reader.snapshot():
            run = run_plan._run_rows(reader.connection, org, sort, term, 10**9)
            assert run == len(_expected(people, field, term))
            rows = run_plan.page(reader, org, query, term, _term_key(query), match, run)
        _page_agrees(people, rows, field, term)
    for term in ["ivan", TOP, TOP * 2]:
        # The value plan: first names' runs merged.
        query = parse_list_query([("first_name_startswith", term), ("per_page", "200")])
        assert value_plan.serves(query)
        rows = value_plan.page(reader, org, query, _sqlite_clauses(*_shape(query))[1])
        _page_agrees(people, rows, "first_name", term)
    # The band plan: a prefix sorted by email, read along the email band when every match's email is in it.
    query = parse_list_query(
        [("first_name_startswith", "ivan"), ("sort_column", "email"), ("per_page", "200")]
    )
    _page_agrees(people, _band_page(reader, org, query, _shape(query)), "first_name", "ivan")
    # One name beginning `ivan` + U+10FFFF has its email outside the band: the page is not the band's.
    query = parse_list_query(
        [("contact_name_startswith", "ivan"), ("sort_column", "email"), ("per_page", "200")]
    )
    assert _band_page(reader, org, query, _shape(query)) is None
