"""The band plan (storage/band_plan.py): a name or first-name prefix sorted by email is read along the band of emails
that begin the same way, when every match's email does. Its pages are exactly the listing's own SQL's (both
orders, every status, deep pages, through deletes, renames and the queue); a match outside the band sends the
listing back to the sort, and the reader does not count it again; the counts are kept until the next commit."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tests.helpers import CONTACTS, Tenant, churned, listing_page, make_contact, recorded_statements
from zcontacts.domain.listing import parse_list_query
from zcontacts.storage import band_plan, walk_plan
from zcontacts.storage import contacts as contacts_storage
from zcontacts.storage.contacts import _shape, _walked_page
from zcontacts.storage.database import Database

pytestmark = pytest.mark.backends("sqlite")  # the hot reader's SQL

FIRST = ["Ada", "Adam", "Bo", "Ivan", "Ivana"]
STATUSES = [[], [("filter_by", "Status.Active")], [("filter_by", "Status.Inactive")]]
# (filter, prefix) and the sort whose band serves it.
BANDED = [
    (("contact_name_startswith", "a"), "email"),
    (("contact_name_startswith", "ad"), "email"),
    (("contact_name_startswith", "iv"), "email"),
    (("first_name_startswith", "a"), "email"),
    (("first_name_startswith", "ivan"), "email"),
    (("email_startswith", "a"), "contact_name"),
    (("email_startswith", "ivan"), "contact_name"),
]


@pytest.fixture
def people(client: Any, tenant: Tenant, database: Database) -> list[str]:
    """80 customers whose emails begin with their names (`ada.kim.07@…` for "Ada Kim 07"), a third inactive, some
    deleted and some renamed after they were made (a renamed one keeps its email, so it leaves its name's band)."""
    rng = random.Random(5)
    bodies = []
    for n in range(80):
        first, last = rng.choice(FIRST), rng.choice(["Kim", "Patel", "Zhou"])
        email = f"{first}.{last}.{n:02d}@{rng.choice(['corp', 'mail'])}.com".lower()
        bodies.append({"contact_name": f"{first} {last} {n:02d}", "first_name": first, "email": email})
    renames = [{"contact_name": f"Zed Renamed {n}", "first_name": "Zed"} for n in range(5)]
    marking = "UPDATE contacts SET status = CASE WHEN rowid % 3 = 0 THEN 'inactive' ELSE 'active' END"
    return churned(client, tenant, database, bodies, renames, marking)


@pytest.fixture
def sorted_listings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every walk-planned listing sorted (where the band plan is tried), bands of any size, marks every 3 rows."""
    monkeypatch.setattr(walk_plan, "choose", lambda *_, **__: walk_plan.Choice(None, 0.0, 0.0))
    monkeypatch.setattr(band_plan, "LEAST", 1)
    monkeypatch.setattr(contacts_storage, "PAGE_MARK_EVERY", 3)


def _banded(statements: list[str], field: str, band: str = "email") -> list[str]:
    """The statements that read along the `band` key's range (a page, or a deep page's mark), the filter tested on
    each entry."""
    return [
        sql
        for sql in statements
        if f"+contacts.{field}_key >= ?" in sql and f" contacts.{band}_key >= ?" in sql
    ]


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The (field, prefix) of every band counted from now on."""
    counted: list[tuple[str, str]] = []
    real = band_plan._counted

    def count(connection: Any, organization_id: str, field: str, band: str, value: str) -> bool:
        counted.append((field, value))
        return real(connection, organization_id, field, band, value)

    monkeypatch.setattr(band_plan, "_counted", count)
    return counted


def _renamed_emails(client: Any, tenant: Tenant, people: list[str]) -> None:
    """The renamed customers kept their emails, which are no longer their names: set apart from the email bands."""
    for n, contact_id in enumerate(people[:5]):
        body = {"email": f"zed.renamed.{n}@corp.com"}
        assert client.put(f"{CONTACTS}/{contact_id}", json=body, headers=tenant.headers).status_code == 200


def _listings(where: tuple[str, str], status: list[Any], sort: str = "email") -> list[list[Any]]:
    pages = [("page", str(page)) for page in (1, 2, 3, 7)]
    return [
        [where, *status, ("sort_column", sort), ("sort_order", order), page, ("per_page", "2")]
        for order in "AD"
        for page in pages
    ]


@pytest.mark.usefixtures("sorted_listings")
@pytest.mark.parametrize("status", STATUSES, ids=lambda s: s[0][1] if s else "any status")
def test_band_pages_are_the_listings(
    people: list[str],
    client: Any,
    tenant: Tenant,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
    status: list[Any],
) -> None:
    _renamed_emails(client, tenant, people)
    statements = recorded_statements(monkeypatch)
    reader = database.reader()
    compared = banded = 0
    for where, band in BANDED:
        field = where[0].removesuffix("_startswith")
        for params in _listings(where, status, band):
            query = parse_list_query(params)
            statements.clear()
            rows = _walked_page(reader, tenant.organization_id, query, _shape(query))
            banded += bool(_banded(statements, field, band))
            assert rows == listing_page(database, tenant.organization_id, query), params
            compared += bool(rows)
    assert banded == len(BANDED) * len(_listings(BANDED[0][0], status))  # every one read along its band
    assert compared >= 30


@pytest.mark.usefixtures("sorted_listings")
def test_a_match_outside_the_band_is_sorted_and_not_counted_again(
    people: list[str], client: Any, tenant: Tenant, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_contact(client, tenant, contact_name="Ada Outlier", first_name="Ada", email="zz.outlier@corp.com")
    make_contact(client, tenant, contact_name="Zz Outlier", first_name="Zz", email="ivan.outlier@corp.com")
    statements = recorded_statements(monkeypatch)
    counted = _counting(monkeypatch)
    reader = database.reader()
    outside = [
        (("contact_name_startswith", "ad"), "email"),
        (("first_name_startswith", "a"), "email"),
        (("email_startswith", "ivan"), "contact_name"),
    ]
    for where, band in outside:
        field = where[0].removesuffix("_startswith")
        for round_ in range(2):
            # A commit between the rounds: the snapshot's facts go, the reader's hint stays.
            body = {"notes": f"round {round_}"}
            assert client.put(f"{CONTACTS}/{people[0]}", json=body, headers=tenant.headers).status_code == 200
            for params in _listings(where, [], band):
                query = parse_list_query(params)
                statements.clear()
                rows = _walked_page(reader, tenant.organization_id, query, _shape(query))
                assert not _banded(statements, field, band), params
                assert rows == listing_page(database, tenant.organization_id, query), params
    assert counted == [(where[0].removesuffix("_startswith"), where[1]) for where, _ in outside]  # once each
    # A band that holds is still read along it.
    query = parse_list_query(
        [("contact_name_startswith", "iv"), ("sort_column", "email"), ("sort_order", "D")]
    )
    statements.clear()
    assert _walked_page(reader, tenant.organization_id, query, _shape(query)) == listing_page(
        database, tenant.organization_id, query
    )
    assert _banded(statements, "contact_name")


@pytest.mark.usefixtures("sorted_listings")
def test_the_band_is_counted_once_per_commit(
    people: list[str], client: Any, tenant: Tenant, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    counted = _counting(monkeypatch)
    reader = database.reader()
    query = parse_list_query(
        [("contact_name_startswith", "a"), ("sort_column", "email"), ("sort_order", "D")]
    )

    def counts() -> int:
        counted.clear()
        rows = _walked_page(reader, tenant.organization_id, query, _shape(query))
        assert rows == listing_page(database, tenant.organization_id, query)
        return len(counted)

    assert counts() == 1
    assert counts() == 0
    contact_id = people[-1]
    body = {"contact_name": "Ada Late", "email": "ada.late@corp.com"}
    assert client.put(f"{CONTACTS}/{contact_id}", json=body, headers=tenant.headers).status_code == 200
    assert counts() == 1  # a commit: counted again, and the renamed customer is on the page's band


def test_which_listings_a_band_serves() -> None:
    def serves(*params: tuple[str, str]) -> bool:
        return band_plan.serves(parse_list_query([*params, ("sort_column", "email")]))

    assert serves(("contact_name_startswith", "a"))
    assert serves(("first_name_startswith", "a"), ("filter_by", "Status.Active"))
    assert not serves(("last_name_startswith", "k"))  # an email begins with the first name
    assert not serves(("contact_name", "ada kim 01"))
    assert not serves(("contact_name_startswith", "a"), ("first_name", "ada"))
    assert not serves(("contact_name_startswith", "a"), ("search_text", "kim"))
    by_name = [("sort_column", "contact_name")]
    assert band_plan.serves(parse_list_query([("email_startswith", "a"), *by_name]))
    assert not band_plan.serves(parse_list_query([("first_name_startswith", "a"), *by_name]))
    assert not band_plan.serves(
        parse_list_query([("contact_name_startswith", "a"), ("sort_column", "company_name")])
    )


@pytest.mark.usefixtures("sorted_listings")
def test_an_email_prefix_counts_rows_of_any_status(
    people: list[str], client: Any, tenant: Tenant, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An email's count (walk_plan.count_sql) reads the status indexes, for active and inactive: a row of another
    status, outside the name band, must still keep the band plan off (no status filter lists it)."""
    _renamed_emails(client, tenant, people)
    made = make_contact(client, tenant, contact_name="Zz Other", first_name="Zz", email="ivan.other@corp.com")
    archive = f"UPDATE contacts SET status = 'archived' WHERE contact_id = {int(made['contact_id'])}"
    database.run(lambda connection: connection.exec_driver_sql(archive), write=True)
    statements = recorded_statements(monkeypatch)
    reader = database.reader()
    for params in _listings(("email_startswith", "ivan"), [], "contact_name"):
        query = parse_list_query(params)
        statements.clear()
        rows = _walked_page(reader, tenant.organization_id, query, _shape(query))
        assert not _banded(statements, "email", "contact_name"), params
        assert rows == listing_page(database, tenant.organization_id, query), params
