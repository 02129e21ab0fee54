"""The consistency checker finds every kind of torn contact, and none in data the API wrote."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import delete, update

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
