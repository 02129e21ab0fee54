"""GET /expense/v1/contacts: paging, status filter, search, field filters, sorting, refusals."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import text

from tests.helpers import CONTACTS, Tenant, assert_error, make_contact
from zcontacts.storage.database import Database


def _list(client: Any, tenant: Tenant, **params: Any) -> dict[str, Any]:
    response = client.get(CONTACTS, params=params, headers=tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _names(client: Any, tenant: Tenant, **params: Any) -> list[str]:
    return [c["contact_name"] for c in _list(client, tenant, **params)["customers"]]


@pytest.fixture
def people(client: Any, tenant: Tenant) -> list[dict[str, Any]]:
    rows = [
        ("Zeta Corp", "Umbrella", "Zoe", "Adams", "zoe@zeta.io", "555-0101"),
        ("alpha & sons", "Acme", "Al", "Brown", "al@alpha.com", "555-0202"),
        ("Beta_Labs", "Acme", "Bea", "Clark", "bea@beta.org", "777-0303"),
        ("Gamma 50%", "Initech", "Gus", "Adams", "gus@gamma.io", "777-0404"),
    ]
    return [
        make_contact(
            client,
            tenant,
            contact_name=name,
            company_name=company,
            first_name=first,
            last_name=last,
            email=email,
            phone=phone,
        )
        for name, company, first, last, email, phone in rows
    ]


def test_default_listing(client: Any, tenant: Tenant, people: list[dict[str, Any]]) -> None:
    body = _list(client, tenant)
    assert [c["contact_name"] for c in body["customers"]] == [
        "alpha & sons",
        "Beta_Labs",
        "Gamma 50%",
        "Zeta Corp",
    ]
    assert body["page_context"] == {"page": 1, "per_page": 200, "has_more_page": False, "applied_filter": "Status.All",
                                    "sort_column": "contact_name", "sort_order": "A"}  # fmt: skip
    searched = _list(client, tenant, search_text=" KEN ")["page_context"]
    assert searched["search_text"] == "ken"


def test_paging(client: Any, tenant: Tenant, people: list[dict[str, Any]]) -> None:
    first = _list(client, tenant, per_page=3)
    assert len(first["customers"]) == 3
    assert first["page_context"]["has_more_page"] is True
    second = _list(client, tenant, per_page=3, page=2)
    assert [c["contact_name"] for c in second["customers"]] == ["Zeta Corp"]
    assert second["page_context"]["has_more_page"] is False
    assert _list(client, tenant, page=9)["customers"] == []


def test_exactly_full_page_has_no_more(client: Any, tenant: Tenant, people: list[dict[str, Any]]) -> None:
    assert _list(client, tenant, per_page=4)["page_context"]["has_more_page"] is False


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"sort_column": "contact_name", "sort_order": "D"}, ["Zeta Corp", "Gamma 50%", "Beta_Labs", "alpha & sons"]),
        ({"sort_column": "company_name"}, ["alpha & sons", "Beta_Labs", "Gamma 50%", "Zeta Corp"]),
        ({"sort_column": "company_name", "sort_order": "D"}, ["Zeta Corp", "Gamma 50%", "Beta_Labs", "alpha & sons"]),
        ({"sort_column": "email"}, ["alpha & sons", "Beta_Labs", "Gamma 50%", "Zeta Corp"]),
        ({"sort_column": "created_time"}, ["Zeta Corp", "alpha & sons", "Beta_Labs", "Gamma 50%"]),
        ({"sort_column": "created_time", "sort_order": "D"}, ["Gamma 50%", "Beta_Labs", "alpha & sons", "Zeta Corp"]),
        ({"sort_column": "last_modified_time"}, ["Zeta Corp", "alpha & sons", "Beta_Labs", "Gamma 50%"]),
    ],
)  # fmt: skip
def test_sorting_is_stable_with_ties_broken_by_id(
    client: Any, tenant: Tenant, people: list[dict[str, Any]], params: dict[str, str], expected: list[str]
) -> None:
    assert _names(client, tenant, **params) == expected


def test_last_modified_sort_follows_updates(
    client: Any, tenant: Tenant, people: list[dict[str, Any]]
) -> None:
    time.sleep(0.01)
    client.put(f"{CONTACTS}/{people[0]['contact_id']}", json={"notes": "x"}, headers=tenant.headers)
    assert _names(client, tenant, sort_column="last_modified_time", sort_order="D")[0] == "Zeta Corp"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"search_text": "ACME"}, ["alpha & sons", "Beta_Labs"]),
        ({"search_text": "zeta"}, ["Zeta Corp"]),
        ({"search_text": "555-02"}, ["alpha & sons"]),
        ({"search_text": "@"}, ["alpha & sons", "Beta_Labs", "Gamma 50%", "Zeta Corp"]),
        ({"search_text": "50%"}, ["Gamma 50%"]),
        ({"search_text": "_labs"}, ["Beta_Labs"]),
        ({"search_text": "nobody"}, []),
        ({"contact_name": "ZETA CORP"}, ["Zeta Corp"]),
        ({"contact_name": "zeta"}, []),
        ({"contact_name_startswith": "al"}, ["alpha & sons"]),
        ({"contact_name_contains": "& s"}, ["alpha & sons"]),
        ({"company_name": "acme"}, ["alpha & sons", "Beta_Labs"]),
        ({"company_name_startswith": "Ini"}, ["Gamma 50%"]),
        ({"company_name_contains": "mbre"}, ["Zeta Corp"]),
        ({"email": "BEA@beta.org"}, ["Beta_Labs"]),
        ({"email_startswith": "g"}, ["Gamma 50%"]),
        ({"email_contains": ".io"}, ["Gamma 50%", "Zeta Corp"]),
        ({"phone": "555-0101"}, ["Zeta Corp"]),
        ({"phone_startswith": "777"}, ["Beta_Labs", "Gamma 50%"]),
        ({"phone_contains": "04"}, ["Gamma 50%"]),
        ({"first_name": "al"}, ["alpha & sons"]),
        ({"first_name_contains": "ea"}, ["Beta_Labs"]),
        ({"last_name": "adams"}, ["Gamma 50%", "Zeta Corp"]),
        ({"last_name_startswith": "Cl"}, ["Beta_Labs"]),
        ({"last_name_contains": "row"}, ["alpha & sons"]),
        ({"last_name": "adams", "email_contains": "zeta"}, ["Zeta Corp"]),
        ({"search_text": "[a]"}, []),
        ({"search_text": "*"}, []),
    ],
)  # fmt: skip
def test_filters(
    client: Any, tenant: Tenant, people: list[dict[str, Any]], params: dict[str, str], expected: list[str]
) -> None:
    body = _list(client, tenant, **params)
    assert [c["contact_name"] for c in body["customers"]] == expected


def test_status_filter(client: Any, tenant: Tenant, people: list[dict[str, Any]], database: Any) -> None:
    # Marking inactive comes with the status endpoints; set it in the store the way they will.
    database.run(lambda c: c.execute(text(
        "UPDATE contacts SET status = 'inactive' WHERE contact_id = :id"), {"id": int(people[0]["contact_id"])}), write=True)  # fmt: skip
    assert _names(client, tenant, filter_by="Status.Inactive") == ["Zeta Corp"]
    assert len(_names(client, tenant, filter_by="Status.Active")) == 3
    assert len(_names(client, tenant, filter_by="Status.All")) == 4
    assert (
        _list(client, tenant, filter_by="Status.Active")["page_context"]["applied_filter"] == "Status.Active"
    )


def test_books_views_without_contacts(client: Any, tenant: Tenant, people: list[dict[str, Any]]) -> None:
    """Books' contact_type and its CRM and duplicate views: every contact here is a customer, none is linked to
    CRM and names are unique, so those views are empty pages, not refusals (a Books sync job sends them)."""
    everyone = _names(client, tenant)
    assert _names(client, tenant, contact_type="customer") == everyone
    assert _names(client, tenant, contact_type="Customer", filter_by="Status.Active") == everyone
    for params in [
        {"contact_type": "vendor"},
        {"filter_by": "Status.Crm"},
        {"filter_by": "status.duplicate"},
    ]:
        body = _list(client, tenant, **params)
        assert body["customers"] == []
        assert body["page_context"]["has_more_page"] is False
    assert _list(client, tenant, filter_by="status.crm")["page_context"]["applied_filter"] == "Status.Crm"
    books = client.get(
        "/books/v3/contacts",
        params={"organization_id": tenant.organization_id, "contact_type": "customer"},
        headers={"Authorization": tenant.headers["Authorization"]},
    )
    assert [c["contact_name"] for c in books.json()["contacts"]] == everyone


@pytest.mark.parametrize(
    ("params", "code", "words"),
    [
        ({"per_page": "201"}, 2, "per_page"),
        ({"per_page": "0"}, 2, "per_page"),
        ({"per_page": "ten"}, 2, "per_page"),
        ({"page": "0"}, 2, "page"),
        ({"page": "-1"}, 2, "page"),
        ({"page": "²"}, 2, "page"),
        ({"per_page": "١٠"}, 2, "per_page"),
        ({"filter_by": "Status.Crazy"}, 2, "filter_by"),
        ({"contact_type": "supplier"}, 2, "contact_type"),
        ({"sort_column": "notes"}, 2, "sort_column"),
        ({"sort_column": "first_name"}, 2, "sort_column"),
        ({"sort_order": "X"}, 2, "sort_order"),
        ({"search_text": "x" * 101}, 15, "search_text"),
        ({"contact_name_endswith": "x"}, 2, "contact_name_endswith"),
        ({"unknown": "1"}, 2, "unknown"),
        ({"x" * 20_000: "1"}, 2, "'" + "x" * 60 + "'…"),
    ],
)  # fmt: skip
def test_bad_list_parameters_are_400(
    client: Any, tenant: Tenant, params: dict[str, str], code: int, words: str
) -> None:
    assert_error(client.get(CONTACTS, params=params, headers=tenant.headers), 400, code, words)


def test_list_reflects_updates(client: Any, tenant: Tenant) -> None:
    contact = make_contact(client, tenant, contact_name="Before", email="a@x.io")
    client.put(
        f"{CONTACTS}/{contact['contact_id']}",
        json={"contact_name": "After", "email": "b@x.io"},
        headers=tenant.headers,
    )
    (row,) = _list(client, tenant)["customers"]
    assert (row["contact_name"], row["email"]) == ("After", "b@x.io")
    assert _names(client, tenant, search_text="before") == []
    assert _names(client, tenant, email="b@x.io") == ["After"]


@pytest.mark.parametrize("planned", [True, False])
@pytest.mark.parametrize("term", ["éa", "i̇", "é", "ün", "üntü"])
def test_short_and_non_ascii_substrings_are_found(
    client: Any,
    tenant: Tenant,
    database: Database,
    term: str,
    planned: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # SQLite 3.40's trigram index answers GLOB '*éa*' with nothing: short terms must not rely on it. On SQLite a
    # term of 1 or 2 characters is planned from the trigrams that start with it (the index's vocabulary, read on
    # the scan thread's reader), or walked when it starts more than MAX_LOOKUPS of them.
    from zcontacts.storage import substring_plans

    if not planned:
        monkeypatch.setattr(substring_plans, "MAX_LOOKUPS", 0)
    make_contact(client, tenant, contact_name="Ébéa Ltd", email="x@y.z")
    make_contact(client, tenant, contact_name="İstanbul Küntürk", company_name="Aüntüb")
    make_contact(client, tenant, contact_name="Plain")
    database.run(lambda connection: None, write=True)  # the trigram queue goes into the index (SQLite)
    expected = {
        "éa": ["Ébéa Ltd"],
        "i̇": ["İstanbul Küntürk"],
        "é": ["Ébéa Ltd"],
        "ün": ["İstanbul Küntürk"],
        "üntü": ["İstanbul Küntürk"],
    }[term]
    for params in ({"search_text": term}, {"contact_name_contains": term}):
        response = client.get(CONTACTS, params=params, headers=tenant.headers)
        assert response.status_code == 200, response.text
        assert [c["contact_name"] for c in response.json()["customers"]] == expected, params


def test_short_substrings_are_read_off_the_event_loop(
    client: Any, tenant: Tenant, people: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A substring under 3 characters has no index (it may read every row: seconds over a million), so its page
    is read on a scan thread while the event loop serves others; other pages are read where the request runs
    (SQLite inline, PostgreSQL on the pool's threads). Same rows either way."""
    from zcontacts.storage.contacts import ContactsRepo

    threads: list[str] = []
    read = ContactsRepo.list_summaries

    def recording(self: ContactsRepo, organization_id: str, query: Any) -> list[bytes]:
        threads.append(threading.current_thread().name)
        return read(self, organization_id, query)

    monkeypatch.setattr(ContactsRepo, "list_summaries", recording)
    assert _names(client, tenant, contact_name_contains="a") == [
        "alpha & sons",
        "Beta_Labs",
        "Gamma 50%",
        "Zeta Corp",
    ]
    assert _names(client, tenant, search_text="ET", email_contains="o") == ["Beta_Labs", "Zeta Corp"]
    _names(client, tenant, contact_name_contains="eta")
    _names(client, tenant)
    sqlite = client.app.state.database.inline
    assert [name.startswith("zcontacts-scan") for name in threads] == [sqlite, sqlite, False, False], threads
