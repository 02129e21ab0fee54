"""A short term in most rows (more trigrams start with it than substring_plans.MAX_LOOKUPS) is read by the
listing's own SQL, but with a status beside it by a walk of the order's own index when the status is common
(contacts.COMMON_STATUS): its entries carry every key and the status, where the status's own index reads each row
to test the term. Either way the pages are the listing's."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tests.helpers import Tenant, churned, listing_page, recorded_statements
from zcontacts.domain.listing import SORT_COLUMNS, parse_list_query
from zcontacts.storage import contacts as contacts_storage
from zcontacts.storage import substring_plans
from zcontacts.storage.contacts import _sqlite_page_rows
from zcontacts.storage.database import Database

pytestmark = pytest.mark.backends("sqlite")  # the hot reader's plans

TERMS = [
    ("first_name_contains", "a"),
    ("email_contains", "e"),
    ("search_text", "o"),
    ("contact_name_contains", "z"),
]
STATUSES = [[], [("filter_by", "Status.Active")], [("filter_by", "Status.Inactive")]]


@pytest.fixture
def crowd(client: Any, tenant: Tenant, database: Database, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """60 customers, a sixth inactive, some deleted or renamed; every short term counts as common."""
    monkeypatch.setattr(substring_plans, "MAX_LOOKUPS", 0)
    rng = random.Random(5)
    bodies = [
        {
            "contact_name": f"{rng.choice(['Zed', 'Ada', 'Bo', 'Eve'])} {n:02d}",
            "first_name": rng.choice(["Zed", "Ada", "Bo", "Eve"]),
            "company_name": rng.choice(["Acme", "Zeta", "Orb"]),
            "email": f"{rng.choice(['x', 'e', 'o'])}{n}@corp.com",
        }
        for n in range(60)
    ]
    renames = [{"contact_name": f"Zoe Renamed {n}", "first_name": "Zoe"} for n in range(4)]
    marking = "UPDATE contacts SET status = CASE WHEN rowid % 6 = 1 THEN 'inactive' ELSE 'active' END"
    return churned(client, tenant, database, bodies, renames, marking)


@pytest.mark.parametrize("common", [0.0, 1.0], ids=["walked", "by the status index"])
def test_common_term_pages_are_the_listings(
    crowd: list[str], tenant: Tenant, database: Database, monkeypatch: pytest.MonkeyPatch, common: float
) -> None:
    monkeypatch.setattr(contacts_storage, "COMMON_STATUS", common)
    reader = database.reader()
    compared = 0
    for by in TERMS:
        for status in STATUSES:
            for sort in SORT_COLUMNS:
                for order in "AD":
                    for page in (1, 2, 4, 7):
                        params = [by, *status, ("sort_column", sort), ("sort_order", order),
                                  ("page", str(page)), ("per_page", "3")]  # fmt: skip
                        query = parse_list_query(params)
                        rows = _sqlite_page_rows(reader, tenant.organization_id, query)
                        assert rows == listing_page(database, tenant.organization_id, query), params
                        compared += bool(rows)
    assert compared > 300


def test_a_common_status_walks_the_orders_index_and_a_rare_one_takes_its_own(
    crowd: list[str], tenant: Tenant, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader = database.reader()
    statements = recorded_statements(monkeypatch)

    def page_sql(status: str) -> str:
        query = parse_list_query(
            [("email_contains", "e"), ("filter_by", status), ("sort_column", "company_name")]
        )
        rows = _sqlite_page_rows(reader, tenant.organization_id, query)
        read = statements[-1]
        assert rows == listing_page(database, tenant.organization_id, query)
        return read

    # Five sixths of the customers are active, a sixth inactive; the bound between is 6 % by default.
    assert "+contacts.status = ?" in page_sql("Status.Active")
    assert "+contacts.status = ?" in page_sql("Status.Inactive")
    monkeypatch.setattr(contacts_storage, "COMMON_STATUS", 0.5)
    assert "+contacts.status = ?" in page_sql("Status.Active")
    plain = page_sql("Status.Inactive")
    assert "contacts.status = ?" in plain
    assert "+contacts.status" not in plain


def test_the_status_count_is_kept_while_the_customer_count_moves_a_little(
    crowd: list[str], tenant: Tenant, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The count only chooses the plan (Reader.estimate): a batch of creates the trigram index takes in moves the
    # bound (COMMON_STATUS of the indexed rows) but must not make every listing count again.
    reader = database.reader()
    statements = recorded_statements(monkeypatch)
    indexed = [60]
    monkeypatch.setattr(contacts_storage.search_index, "indexed_rows", lambda connection: indexed[0])
    query = parse_list_query(
        [("email_contains", "e"), ("filter_by", "Status.Active"), ("sort_column", "email")]
    )

    def counts() -> int:
        before = len(statements)
        rows = _sqlite_page_rows(reader, tenant.organization_id, query)
        assert rows == listing_page(database, tenant.organization_id, query)
        return sum("count(*)" in sql and "status = ?" in sql for sql in statements[before:])

    assert counts() == 1
    indexed[0] = 70  # 6 % of 60 and of 70: a bound of 4, then 5
    assert counts() == 0
    indexed[0] = 140  # a bound of 9: past what the first count counted up to
    assert counts() == 1
