"""The consistency checker finds every kind of torn contact, and none in data the API wrote."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import delete, literal_column, select, update

from tests.e2e.server import zcontacts
from tests.helpers import CONTACTS, Tenant, make_contact
from zcontacts.storage.consistency import check_contacts
from zcontacts.storage.database import Database
from zcontacts.storage.tables import contact_addresses, contact_custom_fields, contact_persons, contacts


def _full_contact(client: Any, tenant: Tenant) -> dict[str, Any]:
    contact = make_contact(
        client,
        tenant,
        contact_name="Checked Co",
        billing_address={"city": "Pune", "zip": "411001"},
        contact_persons=[
            {"first_name": "Ann", "email": "ann@x.co", "is_primary_contact": True},
            {"first_name": "Bo"},
        ],
        custom_fields=[{"customfield_id": "1", "value": "v"}],
    )
    url = f"{CONTACTS}/{contact['contact_id']}"
    assert client.post(f"{url}/address", json={"city": "Goa"}, headers=tenant.headers).status_code == 201
    assert (
        client.put(
            url, json={"notes": "n", "shipping_address": {"city": "Delhi"}}, headers=tenant.headers
        ).status_code
        == 200
    )
    return contact


def test_api_written_data_is_consistent(client: Any, database: Database, tenant: Tenant) -> None:
    _full_contact(client, tenant)
    make_contact(client, tenant, contact_name="Bare")
    assert database.run(check_contacts, write=False) == []


CORRUPTIONS: dict[str, Callable[[int], Any]] = {
    "person value": lambda cid: update(contact_persons).where(contact_persons.c.contact_id == cid).values(email="x@y.z"),
    "missing person": lambda cid: delete(contact_persons).where(contact_persons.c.contact_id == cid, contact_persons.c.position == 1),
    "missing address": lambda cid: delete(contact_addresses).where(contact_addresses.c.contact_id == cid, contact_addresses.c.kind == "additional"),
    "address value": lambda cid: update(contact_addresses).where(contact_addresses.c.contact_id == cid).values(city="Mars"),
    "custom field": lambda cid: update(contact_custom_fields).where(contact_custom_fields.c.contact_id == cid).values(value_json='"w"'),
    "doc": lambda cid: update(contacts).where(contacts.c.contact_id == cid).values(doc=b"{}"),
    "summary": lambda cid: update(contacts).where(contacts.c.contact_id == cid).values(summary_doc=b"{}"),
    "search column": lambda cid: update(contacts).where(contacts.c.contact_id == cid).values(email_key="other"),
    "record": lambda cid: update(contacts).where(contacts.c.contact_id == cid).values(state_doc=b"not json"),
}  # fmt: skip


@pytest.mark.backends("sqlite")
def test_each_corruption_is_found(client: Any, database: Database, tenant: Tenant) -> None:
    make_contact(client, tenant, contact_name="Untouched")
    for corruption, statement in CORRUPTIONS.items():
        contact = _full_contact(client, tenant)
        contact_id = int(contact["contact_id"])
        database.run(lambda connection, cid=contact_id, s=statement: connection.execute(s(cid)), write=True)
        problems = database.run(check_contacts, write=False)
        assert problems, corruption
        assert {p.contact_id for p in problems} == {str(contact_id)}, (corruption, problems)
        # Remove the torn contact (its rows go with it) before the next corruption.
        database.run(
            lambda connection, cid=contact_id: connection.execute(
                contacts.delete().where(contacts.c.contact_id == cid)
            ),
            write=True,
        )


@pytest.mark.backends("sqlite")
def test_db_check_command_reports_problems(
    client: Any, database: Database, database_url: str, tenant: Tenant
) -> None:
    contact = _full_contact(client, tenant)
    assert zcontacts("db", "check", database_url=database_url).returncode == 0
    database.run(
        lambda connection: connection.execute(CORRUPTIONS["missing person"](int(contact["contact_id"]))),
        write=True,
    )
    refused = zcontacts("db", "check", database_url=database_url, check=False)
    assert refused.returncode == 1
    assert f"contact {contact['contact_id']}: contact_persons row" in refused.stdout


# Each update changes one part of the contact; the rows of that part are rewritten and the others left alone.
PARTIAL_UPDATES: list[tuple[dict[str, Any], set[str]]] = [
    ({"notes": "only the contact row"}, set()),
    ({"billing_address": {"zip": "411002"}}, {"contact_addresses"}),
    ({"contact_persons": [{"first_name": "Cy"}]}, {"contact_persons"}),
    ({"custom_fields": [{"customfield_id": "1", "value": "w"}]}, {"contact_custom_fields"}),
    ({"email": "ann@new.co"}, {"contact_persons"}),  # the primary person's email, mirrored on the contact
]
CHILD_TABLES = {table.name: table for table in (contact_addresses, contact_persons, contact_custom_fields)}


def _row_ids(database: Database, contact_id: int) -> dict[str, list[str]]:
    """Each child table's physical row ids for the contact (SQLite's rowid, PostgreSQL's ctid): a row deleted
    and written again gets a new one."""
    column = "rowid" if database.engine.dialect.name == "sqlite" else "ctid"

    def read(connection: Any) -> dict[str, list[str]]:
        return {
            name: sorted(
                str(row[0])
                for row in connection.execute(
                    select(literal_column(column)).select_from(table).where(table.c.contact_id == contact_id)
                )
            )
            for name, table in CHILD_TABLES.items()
        }

    return database.run(read, write=False)


def test_an_update_rewrites_only_the_rows_of_what_it_changed(
    client: Any, database: Database, tenant: Tenant
) -> None:
    contact = _full_contact(client, tenant)
    contact_id = int(contact["contact_id"])
    for n, (body, rewritten) in enumerate(PARTIAL_UPDATES):
        # Rows after its own in every child table, so a row of it written again gets a new id.
        make_contact(
            client,
            tenant,
            contact_name=f"Later {n}",
            contact_persons=[{"first_name": "Dee"}],
            custom_fields=[{"customfield_id": "1", "value": "x"}],
        )
        before = _row_ids(database, contact_id)
        response = client.put(f"{CONTACTS}/{contact_id}", json=body, headers=tenant.headers)
        assert response.status_code == 200, response.text
        after = _row_ids(database, contact_id)
        assert {name for name in CHILD_TABLES if after[name] != before[name]} == rewritten, body
        assert database.run(check_contacts, write=False) == [], body
    stored = client.get(f"{CONTACTS}/{contact_id}", headers=tenant.headers).json()["contact"]
    assert stored["billing_address"]["zip"] == "411002"
    assert [p["first_name"] for p in stored["contact_persons"]] == ["Ann", "Bo", "Cy"]
    assert stored["email"] == "ann@new.co"
    assert stored["custom_fields"][0]["value"] == "w"
