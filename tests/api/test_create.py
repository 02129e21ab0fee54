"""POST /expense/v1/contacts: server-made values, primary-person mirroring, ids never trusted."""

from __future__ import annotations

from typing import Any

from tests.helpers import CONTACTS, Tenant, make_contact, make_tenant
from zcontacts.storage.database import Database


def test_server_made_values(client: Any, tenant: Tenant) -> None:
    contact = make_contact(client, tenant, contact_name="Acme Ltd")
    assert contact["contact_type"] == "customer"
    assert contact["source"] == "user"
    assert contact["has_transaction"] is False
    assert contact["is_crm_customer"] is False
    assert contact["is_linked_with_zohocrm"] is False
    assert contact["payment_terms"] == 0
    assert contact["payment_terms_label"] == "Due on Receipt"
    assert (contact["currency_code"], contact["currency_symbol"], contact["price_precision"]) == (
        "USD",
        "$",
        2,
    )
    assert contact["status"] == "active"
    assert contact["vat_reg_no"] == contact["vat_treatment"] == ""
    assert contact["created_time"] == contact["last_modified_time"]
    assert contact["created_time"].endswith("+0530")
    assert contact["contact_persons"] == []
    assert contact["primary_contact_id"] == ""


def test_currency_and_time_zone_come_from_the_organization(client: Any, database: Database) -> None:
    tenant = make_tenant(database, currency_code="EUR", time_zone="Europe/Berlin")
    contact = make_contact(client, tenant)
    assert (contact["currency_code"], contact["currency_symbol"]) == ("EUR", "€")
    assert contact["created_time"][-5:] in ("+0100", "+0200")


def test_ids_are_numeric_unique_and_never_taken_from_the_body(client: Any, tenant: Tenant) -> None:
    sent_ids = {"contact_id": "1", "billing_address": {"address_id": "2"}, "contact_persons": [
        {"contact_person_id": "3", "first_name": "A"}, {"contact_person_id": "3", "first_name": "B"}]}  # fmt: skip
    first = make_contact(client, tenant, contact_name="One", **sent_ids)
    second = make_contact(client, tenant, contact_name="Two", **sent_ids)
    ids = []
    for contact in (first, second):
        ids += [contact["contact_id"], contact["billing_address"]["address_id"],
                contact["shipping_address"]["address_id"], contact["currency_id"]]  # fmt: skip
        ids += [p["contact_person_id"] for p in contact["contact_persons"]]
    assert all(i.isdigit() and len(i) >= 8 for i in ids)
    assert "1" not in ids
    assert "2" not in ids
    assert "3" not in ids
    server_made = [i for i in ids if i != first["currency_id"]]
    assert len(server_made) == len(set(server_made))


def test_primary_person_fields_are_mirrored_on_the_contact(client: Any, tenant: Tenant) -> None:
    contact = make_contact(
        client,
        tenant,
        contact_persons=[
            {"salutation": "Ms", "first_name": "Ann", "last_name": "Lee", "email": "ann@x.io"},
            {
                "salutation": "Dr.",
                "first_name": "Bo",
                "last_name": "Chu",
                "email": "bo@x.io",
                "phone": "1",
                "mobile": "2",
                "is_primary_contact": True,
            },
        ],
    )
    assert contact["primary_contact_id"] == contact["contact_persons"][1]["contact_person_id"]
    assert [p["is_primary_contact"] for p in contact["contact_persons"]] == [False, True]
    assert (contact["contact_salutation"], contact["first_name"], contact["last_name"]) == ("Dr", "Bo", "Chu")
    assert (contact["email"], contact["phone"], contact["mobile"]) == ("bo@x.io", "1", "2")


def test_first_person_is_primary_when_none_is_marked(client: Any, tenant: Tenant) -> None:
    contact = make_contact(client, tenant, contact_persons=[{"first_name": "A"}, {"first_name": "B"}])
    assert [p["is_primary_contact"] for p in contact["contact_persons"]] == [True, False]
    assert contact["first_name"] == "A"


def test_top_level_person_fields_make_a_primary_person(client: Any, tenant: Tenant) -> None:
    contact = make_contact(client, tenant, first_name="Ken", email="ken@x.io", contact_salutation="Mr")
    (person,) = contact["contact_persons"]
    assert person["is_primary_contact"] is True
    assert (person["first_name"], person["email"], person["salutation"]) == ("Ken", "ken@x.io", "Mr")
    assert contact["primary_contact_id"] == person["contact_person_id"]
    assert (contact["first_name"], contact["email"], contact["contact_salutation"]) == (
        "Ken",
        "ken@x.io",
        "Mr",
    )


def test_body_fields_win_over_the_persons(client: Any, tenant: Tenant) -> None:
    contact = make_contact(client, tenant, email="boss@x.io", contact_persons=[{"email": "old@x.io"}])
    assert contact["email"] == contact["contact_persons"][0]["email"] == "boss@x.io"


def test_person_defaults(client: Any, tenant: Tenant) -> None:
    (person,) = make_contact(client, tenant, contact_persons=[{"first_name": "A"}])["contact_persons"]
    assert person["can_invite"] is True
    assert person["department"] == person["skype"] == ""


def test_unknown_top_level_fields_are_ignored(client: Any, tenant: Tenant) -> None:
    contact = make_contact(client, tenant, contact_name="X", favourite_colour="blue", status="inactive")
    assert "favourite_colour" not in contact
    assert contact["status"] == "active"


def test_null_strings_are_empty(client: Any, tenant: Tenant) -> None:
    contact = make_contact(client, tenant, company_name=None, website=None)
    assert contact["company_name"] == contact["website"] == ""


def test_name_is_trimmed(client: Any, tenant: Tenant) -> None:
    assert make_contact(client, tenant, contact_name="  Padded  ")["contact_name"] == "Padded"


def test_custom_field_values_keep_their_json_type(client: Any, tenant: Tenant) -> None:
    fields = [{"customfield_id": "1", "value": 5}, {"customfield_id": "2", "value": True},
              {"customfield_id": 3, "value": "x"}]  # fmt: skip
    contact = make_contact(client, tenant, custom_fields=fields)
    assert contact["custom_fields"] == [{"customfield_id": "1", "value": 5}, {"customfield_id": "2", "value": True},
                                        {"customfield_id": "3", "value": "x"}]  # fmt: skip


def test_created_contact_is_readable(client: Any, tenant: Tenant) -> None:
    contact = make_contact(client, tenant, notes="hello", twitter="@k", website="k.com")
    body = client.get(f"{CONTACTS}/{contact['contact_id']}", headers=tenant.headers).json()
    assert body["contact"] == contact
