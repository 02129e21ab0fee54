"""PUT /expense/v1/contacts/{id}: present fields replace, addresses merge, persons merge by id."""

from __future__ import annotations

import time
from typing import Any

from tests.helpers import CONTACTS, Tenant, assert_error, make_contact


def _put(client: Any, tenant: Tenant, contact_id: str, body: Any) -> Any:
    return client.put(f"{CONTACTS}/{contact_id}", json=body, headers=tenant.headers)


def _updated(client: Any, tenant: Tenant, contact_id: str, body: Any) -> dict[str, Any]:
    response = _put(client, tenant, contact_id, body)
    assert response.status_code == 200, response.text
    assert response.json()["message"] == "Customer information has been saved."
    contact: dict[str, Any] = response.json()["contact"]
    return contact


def test_present_fields_replace_absent_fields_stay(client: Any, tenant: Tenant) -> None:
    contact = make_contact(client, tenant, company_name="Old Co", website="old.com", notes="n")
    updated = _updated(client, tenant, contact["contact_id"], {"company_name": "New Co", "website": ""})
    assert (updated["company_name"], updated["website"], updated["notes"]) == ("New Co", "", "n")
    assert updated["contact_name"] == contact["contact_name"]


def test_created_time_never_changes_and_modified_time_moves(client: Any, tenant: Tenant) -> None:
    contact = make_contact(client, tenant)
    time.sleep(1.05)
    updated = _updated(client, tenant, contact["contact_id"], {"notes": "later"})
    assert updated["created_time"] == contact["created_time"]
    assert updated["last_modified_time"] > contact["last_modified_time"]


def test_addresses_merge_field_by_field(client: Any, tenant: Tenant) -> None:
    contact = make_contact(
        client, tenant, billing_address={"city": "Pune", "zip": "411001", "country": "India"}
    )
    updated = _updated(
        client, tenant, contact["contact_id"], {"billing_address": {"zip": "411002", "address_id": "9"}}
    )
    assert updated["billing_address"] == {**contact["billing_address"], "zip": "411002"}
    assert updated["shipping_address"] == contact["shipping_address"]


def test_persons_merge_by_id_and_new_ones_are_added(client: Any, tenant: Tenant) -> None:
    contact = make_contact(
        client, tenant, contact_persons=[{"first_name": "A", "email": "a@x.io"}, {"first_name": "B"}]
    )
    first, second = contact["contact_persons"]
    updated = _updated(client, tenant, contact["contact_id"], {"contact_persons": [
        {"contact_person_id": second["contact_person_id"], "last_name": "Bee"}, {"first_name": "C"}]})  # fmt: skip
    persons = updated["contact_persons"]
    assert [p["first_name"] for p in persons] == ["A", "B", "C"]
    assert persons[0] == first
    assert persons[1] == {**second, "last_name": "Bee"}
    assert persons[2]["contact_person_id"].isdigit()
    assert persons[2]["contact_person_id"] not in (first["contact_person_id"], second["contact_person_id"])


def test_marking_another_person_primary_moves_the_mirror(client: Any, tenant: Tenant) -> None:
    contact = make_contact(client, tenant, contact_persons=[{"first_name": "A", "email": "a@x.io"},
                                                            {"first_name": "B", "email": "b@x.io"}])  # fmt: skip
    second = contact["contact_persons"][1]
    updated = _updated(client, tenant, contact["contact_id"], {"contact_persons": [
        {"contact_person_id": second["contact_person_id"], "is_primary_contact": True}]})  # fmt: skip
    assert [p["is_primary_contact"] for p in updated["contact_persons"]] == [False, True]
    assert updated["primary_contact_id"] == second["contact_person_id"]
    assert (updated["first_name"], updated["email"]) == ("B", "b@x.io")


def test_top_level_fields_update_the_primary_person(client: Any, tenant: Tenant) -> None:
    contact = make_contact(client, tenant, contact_persons=[{"first_name": "A", "email": "a@x.io"}])
    updated = _updated(
        client, tenant, contact["contact_id"], {"email": "new@x.io", "contact_salutation": "Mrs"}
    )
    assert updated["email"] == updated["contact_persons"][0]["email"] == "new@x.io"
    assert updated["contact_salutation"] == "Mrs"


def test_updates_cannot_grow_custom_fields_past_the_cap(client: Any, tenant: Tenant) -> None:
    """The cap of 100 is on the customer, not on one body: an update adding new ids to a full set is refused
    and changes nothing; updating the existing ids still works."""
    full = [{"customfield_id": str(i), "value": "v"} for i in range(100)]
    contact = make_contact(client, tenant, custom_fields=full)
    url = f"{CONTACTS}/{contact['contact_id']}"
    refused = client.put(url, json={"custom_fields": [{"customfield_id": "new", "value": "x"}]},
                         headers=tenant.headers)  # fmt: skip
    assert_error(refused, 400, 2, "custom_fields", "at most 100")
    assert client.get(url, headers=tenant.headers).json()["contact"] == contact
    updated = _updated(
        client, tenant, contact["contact_id"], {"custom_fields": [{"customfield_id": "7", "value": "w"}]}
    )
    assert len(updated["custom_fields"]) == 100
    assert updated["custom_fields"][7] == {"customfield_id": "7", "value": "w"}


def test_custom_fields_merge_by_id(client: Any, tenant: Tenant) -> None:
    contact = make_contact(client, tenant, custom_fields=[{"customfield_id": "1", "value": "a"},
                                                          {"customfield_id": "2", "value": "b"}])  # fmt: skip
    updated = _updated(client, tenant, contact["contact_id"], {"custom_fields": [
        {"customfield_id": "2", "value": "B"}, {"customfield_id": "3", "value": "c"}]})  # fmt: skip
    assert updated["custom_fields"] == [{"customfield_id": "1", "value": "a"}, {"customfield_id": "2", "value": "B"},
                                        {"customfield_id": "3", "value": "c"}]  # fmt: skip


def test_rename_keeps_uniqueness(client: Any, tenant: Tenant) -> None:
    make_contact(client, tenant, contact_name="Taken")
    other = make_contact(client, tenant, contact_name="Other")
    assert_error(
        _put(client, tenant, other["contact_id"], {"contact_name": "TAKEN"}), 400, 3062, "already exists"
    )
    assert _updated(client, tenant, other["contact_id"], {"contact_name": "other"})["contact_name"] == "other"


def test_empty_update_changes_only_the_modified_time(client: Any, tenant: Tenant) -> None:
    contact = make_contact(client, tenant, contact_persons=[{"first_name": "A"}])
    updated = _updated(client, tenant, contact["contact_id"], {})
    assert {**updated, "last_modified_time": ""} == {**contact, "last_modified_time": ""}


def test_update_is_persisted(client: Any, tenant: Tenant) -> None:
    contact = make_contact(client, tenant)
    updated = _updated(client, tenant, contact["contact_id"], {"notes": "kept"})
    assert (
        client.get(f"{CONTACTS}/{contact['contact_id']}", headers=tenant.headers).json()["contact"] == updated
    )


def test_unknown_person_id_is_refused_and_nothing_changes(client: Any, tenant: Tenant) -> None:
    contact = make_contact(client, tenant)
    response = _put(
        client,
        tenant,
        contact["contact_id"],
        {"notes": "x", "contact_persons": [{"contact_person_id": "123"}]},
    )
    assert_error(response, 400, 2, "contact_persons[0].contact_person_id")
    assert (
        client.get(f"{CONTACTS}/{contact['contact_id']}", headers=tenant.headers).json()["contact"] == contact
    )


def test_update_of_unknown_contact_is_404(client: Any, tenant: Tenant) -> None:
    assert_error(
        _put(client, tenant, "46000000000099999", {"notes": "x"}), 404, 1002, "Customer does not exist."
    )


def test_null_empties_text_fields_and_leaves_nested_parts(client: Any, tenant: Tenant) -> None:
    """As the README says: null empties a text field; null for an address, the persons or the custom fields
    leaves them as they are."""
    contact = make_contact(client, tenant, company_name="Acme", billing_address={"city": "Pune"},
                           contact_persons=[{"first_name": "Ann"}], custom_fields=[{"customfield_id": "1", "value": "a"}])  # fmt: skip
    updated = _updated(client, tenant, contact["contact_id"], {
        "company_name": None, "billing_address": None, "contact_persons": None, "custom_fields": None})  # fmt: skip
    assert updated["company_name"] == ""
    for part in ("billing_address", "contact_persons", "custom_fields"):
        assert updated[part] == contact[part], part
