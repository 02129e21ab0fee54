"""The contact surface beyond the five calls: status, contact persons, addresses and history, under both the
Expense and the Books prefixes; the primary-person rule holds under every path."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import CONTACTS, Tenant, assert_error, make_contact, token_for
from zcontacts.storage.database import Database

PREFIXES = ["/expense/v1", "/books/v3"]


def _get(client: Any, tenant: Tenant, contact_id: str, prefix: str = "/expense/v1") -> dict[str, Any]:
    response = client.get(f"{prefix}/contacts/{contact_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    contact: dict[str, Any] = response.json()["contact"]
    return contact


def _assert_mirrors_primary(contact: dict[str, Any]) -> None:
    """The one rule, checked from the outside."""
    primaries = [p for p in contact["contact_persons"] if p["is_primary_contact"]]
    if not contact["contact_persons"]:
        assert contact["primary_contact_id"] == contact["first_name"] == contact["email"] == ""
        return
    assert len(primaries) == 1
    (primary,) = primaries
    assert contact["primary_contact_id"] == primary["contact_person_id"]
    for field in ("first_name", "last_name", "email", "phone", "mobile"):
        assert contact[field] == primary[field], field
    assert contact["contact_salutation"] == primary["salutation"].rstrip(".")


# ---- status ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
def test_mark_inactive_and_active(client: Any, tenant: Tenant, prefix: str) -> None:
    contact = make_contact(client, tenant)
    url = f"{prefix}/contacts/{contact['contact_id']}"
    response = client.post(f"{url}/inactive", headers=tenant.headers)
    assert response.json() == {"code": 0, "message": "The contact has been marked as inactive."}
    assert _get(client, tenant, contact["contact_id"])["status"] == "inactive"
    listed = client.get(CONTACTS, params={"filter_by": "Status.Inactive"}, headers=tenant.headers).json()
    assert [c["contact_id"] for c in listed["customers"]] == [contact["contact_id"]]
    assert listed["customers"][0]["status"] == "inactive"
    assert (
        client.get(CONTACTS, params={"filter_by": "Status.Active"}, headers=tenant.headers).json()[
            "customers"
        ]
        == []
    )
    response = client.post(f"{url}/active", headers=tenant.headers)
    assert response.json() == {"code": 0, "message": "The contact has been marked as active."}
    assert _get(client, tenant, contact["contact_id"])["status"] == "active"


def test_status_needs_the_update_scope(client: Any, database: Database, tenant: Tenant) -> None:
    contact = make_contact(client, tenant)
    reader = token_for(database, tenant, ["ZohoExpense.customer.READ"])
    assert_error(client.post(f"{CONTACTS}/{contact['contact_id']}/inactive", headers=reader.headers), 401, 57)
    updater = token_for(database, tenant, ["ZohoExpense.customer.UPDATE"])
    assert (
        client.post(f"{CONTACTS}/{contact['contact_id']}/inactive", headers=updater.headers).status_code
        == 200
    )


def test_status_of_unknown_contact_is_404(client: Any, tenant: Tenant) -> None:
    assert_error(client.post(f"{CONTACTS}/46000000000999999/active", headers=tenant.headers), 404, 1002)


# ---- contact persons ------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
def test_contact_person_lifecycle(client: Any, tenant: Tenant, prefix: str) -> None:
    contact = make_contact(client, tenant, contact_persons=[{"first_name": "Ann", "email": "ann@x.io"}])
    contact_id = contact["contact_id"]
    ann = contact["contact_persons"][0]

    created = client.post(f"{prefix}/contacts/contactpersons", headers=tenant.headers, json={
        "contact_id": contact_id, "salutation": "Dr.", "first_name": "Bo", "last_name": "Chu", "email": "bo@x.io"})  # fmt: skip
    assert created.status_code == 201, created.text
    assert created.json()["message"] == "The contactperson has been Created"
    bo = created.json()["contact_person"]
    assert (bo["first_name"], bo["is_primary_contact"]) == ("Bo", False)
    _assert_mirrors_primary(_get(client, tenant, contact_id))

    listed = client.get(f"{prefix}/contacts/{contact_id}/contactpersons", headers=tenant.headers).json()
    assert [p["first_name"] for p in listed["contact_persons"]] == ["Ann", "Bo"]
    assert listed["page_context"] == {"page": 1, "per_page": 200, "has_more_page": False}
    one = client.get(
        f"{prefix}/contacts/{contact_id}/contactpersons/{bo['contact_person_id']}", headers=tenant.headers
    )
    assert one.json() == {"code": 0, "message": "success", "contact_person": bo}
    # Older Books SDKs read a person by its own id alone.
    by_id = client.get(f"{prefix}/contacts/contactpersons/{bo['contact_person_id']}", headers=tenant.headers)
    assert by_id.json() == one.json()

    updated = client.put(f"{prefix}/contacts/contactpersons/{ann['contact_person_id']}", headers=tenant.headers,
                         json={"email": "ann@new.io", "phone": "123"})  # fmt: skip
    assert updated.json()["message"] == "The contactperson details has been updated."
    assert updated.json()["contact_person"]["email"] == "ann@new.io"
    after = _get(client, tenant, contact_id)
    assert (after["email"], after["phone"]) == ("ann@new.io", "123")  # Ann is primary: the contact follows
    _assert_mirrors_primary(after)

    primary = client.post(
        f"{prefix}/contacts/contactpersons/{bo['contact_person_id']}/primary", headers=tenant.headers
    )
    assert primary.json() == {
        "code": 0,
        "message": "This contact person has been marked as your primary contact person.",
    }
    after = _get(client, tenant, contact_id)
    assert (after["primary_contact_id"], after["first_name"], after["contact_salutation"]) == (
        bo["contact_person_id"],
        "Bo",
        "Dr",
    )
    _assert_mirrors_primary(after)

    deleted = client.delete(
        f"{prefix}/contacts/contactpersons/{bo['contact_person_id']}", headers=tenant.headers
    )
    assert deleted.json() == {"code": 0, "message": "The contact person has been deleted."}
    after = _get(client, tenant, contact_id)
    assert [p["first_name"] for p in after["contact_persons"]] == ["Ann"]
    assert after["primary_contact_id"] == ann["contact_person_id"]  # the remaining person took over
    _assert_mirrors_primary(after)

    client.delete(f"{prefix}/contacts/contactpersons/{ann['contact_person_id']}", headers=tenant.headers)
    _assert_mirrors_primary(_get(client, tenant, contact_id))


def test_first_person_added_becomes_primary(client: Any, tenant: Tenant) -> None:
    contact = make_contact(client, tenant)
    created = client.post(f"{CONTACTS}/contactpersons", headers=tenant.headers,
                          json={"contact_id": contact["contact_id"], "first_name": "Solo", "email": "solo@x.io"})  # fmt: skip
    assert created.json()["contact_person"]["is_primary_contact"] is True
    after = _get(client, tenant, contact["contact_id"])
    assert (after["first_name"], after["email"]) == ("Solo", "solo@x.io")
    _assert_mirrors_primary(after)


def test_new_person_marked_primary_takes_over(client: Any, tenant: Tenant) -> None:
    contact = make_contact(client, tenant, contact_persons=[{"first_name": "Old"}])
    client.post(f"{CONTACTS}/contactpersons", headers=tenant.headers,
                json={"contact_id": contact["contact_id"], "first_name": "New", "is_primary_contact": True})  # fmt: skip
    after = _get(client, tenant, contact["contact_id"])
    assert after["first_name"] == "New"
    _assert_mirrors_primary(after)


def test_person_refusals(client: Any, tenant: Tenant) -> None:
    contact = make_contact(client, tenant, contact_persons=[{"first_name": "A"}])
    base = f"{CONTACTS}/contactpersons"
    assert_error(client.post(base, json={"first_name": "X"}, headers=tenant.headers), 400, 11, "contact_id")
    assert_error(
        client.post(base, json={"contact_id": contact["contact_id"]}, headers=tenant.headers),
        400,
        11,
        "first_name",
    )
    assert_error(client.post(base, json={"contact_id": "46000000000999999", "first_name": "X"}, headers=tenant.headers),
                 400, 2, "contact_id")  # fmt: skip
    assert_error(client.post(base, json={"contact_id": contact["contact_id"], "first_name": "X", "email": "bad"},
                             headers=tenant.headers), 400, 2, "email")  # fmt: skip
    person_url = f"{base}/{contact['contact_persons'][0]['contact_person_id']}"
    for emptied in ("", "  ", None):  # its create requires a first name: an update cannot take it away
        assert_error(client.put(person_url, json={"first_name": emptied}, headers=tenant.headers), 400, 11,
                     "first_name")  # fmt: skip
    assert_error(client.put(f"{base}/46000000000999999", json={"first_name": "X"}, headers=tenant.headers), 404, 1002,
                 "Contact person does not exist.")  # fmt: skip
    assert_error(client.delete(f"{base}/abc", headers=tenant.headers), 404, 1002)
    assert_error(client.get(f"{base}/46000000000999999", headers=tenant.headers), 404, 1002,
                 "Contact person does not exist.")  # fmt: skip
    assert_error(client.get(f"{base}/abc", headers=tenant.headers), 404, 1002)
    assert_error(client.delete(f"{base}/²", headers=tenant.headers), 404, 1002)
    assert_error(client.get(f"{CONTACTS}/{contact['contact_id']}/comments", params={"page": "²"},
                            headers=tenant.headers), 400, 2, "page")  # fmt: skip
    assert_error(client.post(f"{base}/46000000000999999/primary", headers=tenant.headers), 404, 1002)
    other = make_contact(client, tenant, contact_name="Other")
    person_id = contact["contact_persons"][0]["contact_person_id"]
    url = f"{CONTACTS}/{other['contact_id']}/contactpersons/{person_id}"
    assert_error(client.get(url, headers=tenant.headers), 404, 1002)  # a person of another contact
    assert _get(client, tenant, contact["contact_id"]) == contact


# ---- addresses ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
def test_address_lifecycle(client: Any, tenant: Tenant, prefix: str) -> None:
    contact = make_contact(
        client, tenant, billing_address={"city": "Pune", "street2": "Wing B", "state_code": "MH"}
    )
    contact_id = contact["contact_id"]
    url = f"{prefix}/contacts/{contact_id}/address"
    listed = client.get(url, headers=tenant.headers).json()
    billing, shipping = listed["addresses"]
    assert billing["address_id"] == contact["billing_address"]["address_id"]
    assert (billing["city"], billing["street2"], billing["state_code"], billing["phone"]) == (
        "Pune",
        "Wing B",
        "MH",
        "",
    )
    assert list(billing) == ["address_id", "attention", "address", "street2", "state_code", "city", "state", "zip",
                             "country", "fax", "phone"]  # fmt: skip
    assert contact["billing_address"]["city"] == "Pune"
    assert "street2" not in contact["billing_address"]

    created = client.post(
        url, json={"address": "1 Side St", "city": "Goa", "phone": "999"}, headers=tenant.headers
    )
    assert created.status_code == 201, created.text
    assert created.json()["message"] == "The address has been created."
    extra = created.json()["address_info"]
    assert (extra["city"], extra["phone"]) == ("Goa", "999")
    assert [a["address_id"] for a in client.get(url, headers=tenant.headers).json()["addresses"]] == [
        billing["address_id"], shipping["address_id"], extra["address_id"]]  # fmt: skip
    assert _get(client, tenant, contact_id)["billing_address"] == contact["billing_address"]

    updated = client.put(f"{url}/{extra['address_id']}", json={"zip": "403001"}, headers=tenant.headers)
    assert updated.json()["message"] == "The address has been updated."
    assert updated.json()["address_info"] == {**extra, "zip": "403001"}

    billing_update = client.put(
        f"{url}/{billing['address_id']}", json={"city": "Mumbai", "street2": ""}, headers=tenant.headers
    )
    assert billing_update.json()["address_info"]["city"] == "Mumbai"
    assert _get(client, tenant, contact_id)["billing_address"]["city"] == "Mumbai"

    deleted = client.delete(f"{url}/{extra['address_id']}", headers=tenant.headers)
    assert deleted.json() == {"code": 0, "message": "The address has been deleted."}
    assert len(client.get(url, headers=tenant.headers).json()["addresses"]) == 2


def test_address_refusals(client: Any, tenant: Tenant) -> None:
    contact = make_contact(client, tenant)
    url = f"{CONTACTS}/{contact['contact_id']}/address"
    assert_error(client.delete(f"{url}/{contact['billing_address']['address_id']}", headers=tenant.headers), 400, 2,
                 "cannot be deleted")  # fmt: skip
    assert_error(client.put(f"{url}/46000000000999999", json={"city": "X"}, headers=tenant.headers), 404, 1002,
                 "Address does not exist.")  # fmt: skip
    assert_error(client.post(url, json={"zip": "1" * 51}, headers=tenant.headers), 400, 15, "zip")
    assert_error(client.post(url, json={"street2": 5}, headers=tenant.headers), 400, 2, "street2")
    assert_error(client.get(f"{CONTACTS}/46000000000999999/address", headers=tenant.headers), 404, 1002)


def test_update_keeps_address_details(client: Any, tenant: Tenant) -> None:
    contact = make_contact(client, tenant, shipping_address={"street2": "Unit 4", "city": "Austin"})
    client.put(
        f"{CONTACTS}/{contact['contact_id']}",
        json={"shipping_address": {"zip": "73301"}},
        headers=tenant.headers,
    )
    shipping = client.get(f"{CONTACTS}/{contact['contact_id']}/address", headers=tenant.headers).json()[
        "addresses"
    ][1]
    assert (shipping["street2"], shipping["city"], shipping["zip"]) == ("Unit 4", "Austin", "73301")


# ---- history --------------------------------------------------------------------------------------------


def test_every_change_is_recorded(client: Any, tenant: Tenant) -> None:
    contact = make_contact(client, tenant, contact_persons=[{"first_name": "Ann"}])
    contact_id = contact["contact_id"]
    client.put(f"{CONTACTS}/{contact_id}", json={"notes": "n", "website": "w.com"}, headers=tenant.headers)
    client.post(f"{CONTACTS}/{contact_id}/inactive", headers=tenant.headers)
    client.post(
        f"{CONTACTS}/contactpersons",
        json={"contact_id": contact_id, "first_name": "Bo"},
        headers=tenant.headers,
    )
    client.post(f"{CONTACTS}/{contact_id}/address", json={"city": "Goa"}, headers=tenant.headers)
    body = client.get(f"{CONTACTS}/{contact_id}/comments", headers=tenant.headers).json()
    entries = body["contact_comments"]
    assert [e["operation_type"] for e in entries] == ["address_added", "person_added", "marked_inactive", "updated",
                                                      "created"]  # fmt: skip
    update = entries[3]
    assert update["changed_fields"] == ["website", "notes"]
    assert update["description"] == "Customer updated: website, notes"
    assert entries[2]["changed_fields"] == ["status"]
    assert entries[0]["changed_fields"] == ["addresses"]
    assert all(e["commented_by"].startswith("token ") and e["commented_by_id"].isdigit() for e in entries)
    assert entries[-1]["created_time"] == contact["created_time"]
    assert list(entries[0]) == ["comment_id", "contact_id", "contact_name", "description", "commented_by_id",
                                "commented_by", "operation_type", "changed_fields", "date", "time", "created_time"]  # fmt: skip
    assert body["page_context"] == {"page": 1, "per_page": 200, "has_more_page": False}
    paged = client.get(
        f"{CONTACTS}/{contact_id}/comments", params={"per_page": 2, "page": 2}, headers=tenant.headers
    ).json()
    assert [e["operation_type"] for e in paged["contact_comments"]] == ["marked_inactive", "updated"]
    assert paged["page_context"]["has_more_page"] is True


def test_refused_changes_leave_no_history(client: Any, tenant: Tenant) -> None:
    contact = make_contact(client, tenant)
    client.put(f"{CONTACTS}/{contact['contact_id']}", json={"email": "bad"}, headers=tenant.headers)
    entries = client.get(f"{CONTACTS}/{contact['contact_id']}/comments", headers=tenant.headers).json()[
        "contact_comments"
    ]
    assert [e["operation_type"] for e in entries] == ["created"]


def test_history_of_deleted_contact_is_kept_for_operators(
    client: Any, tenant: Tenant, database: Database
) -> None:
    from zcontacts.storage.contacts import ContactsRepo

    contact = make_contact(client, tenant)
    client.delete(f"{CONTACTS}/{contact['contact_id']}", headers=tenant.headers)
    assert_error(
        client.get(f"{CONTACTS}/{contact['contact_id']}/comments", headers=tenant.headers), 404, 1002
    )
    rows = database.run(lambda c: ContactsRepo(c).history(tenant.organization_id, contact["contact_id"], limit=10,
                                                          offset=0), write=False)  # fmt: skip
    assert rows is not None
    assert [r.operation for r in rows] == ["deleted", "created"]


def test_history_entries_keep_the_name_and_take_ids_no_one_else_has(
    client: Any, tenant: Tenant, database: Database
) -> None:
    from zcontacts.storage.contacts import ContactsRepo

    persons = [{"first_name": "Ann", "is_primary_contact": True}, {"first_name": "Bob"}]
    first = make_contact(client, tenant, contact_name="First", contact_persons=persons)
    second = make_contact(client, tenant, contact_name="Second", email="s@example.com")
    url = f"{CONTACTS}/{first['contact_id']}"
    renamed = client.put(url, json={"contact_name": "First, renamed"}, headers=tenant.headers)
    assert renamed.status_code == 200, renamed.text
    assert client.delete(url, headers=tenant.headers).status_code == 200

    def history(contact_id: str) -> list[Any]:
        rows = database.run(
            lambda c: ContactsRepo(c).history(tenant.organization_id, contact_id, limit=10, offset=0),
            write=False,
        )
        assert rows is not None
        return rows

    first_rows, second_rows = history(first["contact_id"]), history(second["contact_id"])
    # The delete's entry names the contact as it was when deleted.
    assert [(r.operation, r.contact_name) for r in first_rows] == [
        ("deleted", "First, renamed"),
        ("updated", "First, renamed"),
        ("created", "First"),
    ]
    taken = [c["contact_id"] for c in (first, second)]
    taken += [
        c[kind]["address_id"] for c in (first, second) for kind in ("billing_address", "shipping_address")
    ]
    taken += [p["contact_person_id"] for c in (first, second) for p in c["contact_persons"]]
    history_ids = [r.history_id for r in first_rows + second_rows]
    assert len(set(history_ids)) == len(history_ids) == 4
    assert not set(history_ids) & set(taken)


# ---- Books flavor ---------------------------------------------------------------------------------------


def test_books_paths_use_books_messages_and_keys(client: Any, tenant: Tenant) -> None:
    query = {"organization_id": tenant.organization_id}
    auth = {"Authorization": tenant.headers["Authorization"]}
    created = client.post("/books/v3/contacts", params=query, json={"contact_name": "Booked"}, headers=auth)
    assert (created.status_code, created.json()["message"]) == (201, "The contact has been created")
    contact_id = created.json()["contact"]["contact_id"]
    listed = client.get("/books/v3/contacts", params=query, headers=auth).json()
    assert list(listed) == ["code", "message", "contacts", "page_context"]
    assert [c["contact_id"] for c in listed["contacts"]] == [contact_id]
    updated = client.put(f"/books/v3/contacts/{contact_id}", params=query, json={"notes": "x"}, headers=auth)
    assert updated.json()["message"] == "Contact has been updated successfully"
    assert (
        client.get(f"/books/v3/contacts/{contact_id}", params=query, headers=auth).json()["message"]
        == "success"
    )
    deleted = client.delete(f"/books/v3/contacts/{contact_id}", params=query, headers=auth)
    assert deleted.json() == {"code": 0, "message": "The contact has been deleted."}
    # Expense paths keep Expense's words.
    again = client.post(CONTACTS, json={"contact_name": "Expensed"}, headers=tenant.headers)
    assert again.json()["message"] == "The customer has been created."


def test_only_the_whole_books_prefix_is_served(client: Any, tenant: Tenant) -> None:
    query = {"organization_id": tenant.organization_id}
    auth = {"Authorization": tenant.headers["Authorization"]}
    assert client.get("/books/v3/contacts", params=query, headers=auth).status_code == 200
    for path in ("/books/v3x/contacts", "/books/v3contacts", "/books/v3", "/books/v3/expense/v1/contacts"):
        assert_error(client.get(path, params=query, headers=auth), 404, 5)


def test_books_scopes_are_accepted(client: Any, database: Database, tenant: Tenant) -> None:
    books = token_for(database, tenant, ["ZohoBooks.contacts.READ"])
    assert client.get("/books/v3/contacts", headers=books.headers).status_code == 200
    assert_error(
        client.post("/books/v3/contacts", json={"contact_name": "X"}, headers=books.headers), 401, 57
    )


def test_sub_resources_never_cross_organizations(client: Any, database: Database, tenant: Tenant) -> None:
    from tests.helpers import make_tenant

    other = make_tenant(database, name="Other")
    theirs = make_contact(client, other, contact_persons=[{"first_name": "Secret"}])
    person_id = theirs["contact_persons"][0]["contact_person_id"]
    address_id = theirs["billing_address"]["address_id"]
    base = f"{CONTACTS}/{theirs['contact_id']}"
    for method, url, body in [
        ("GET", f"{base}/contactpersons", None),
        ("GET", f"{base}/contactpersons/{person_id}", None),
        ("GET", f"{CONTACTS}/contactpersons/{person_id}", None),
        ("PUT", f"{CONTACTS}/contactpersons/{person_id}", {"first_name": "Mine"}),
        ("DELETE", f"{CONTACTS}/contactpersons/{person_id}", None),
        ("POST", f"{CONTACTS}/contactpersons/{person_id}/primary", None),
        ("GET", f"{base}/address", None),
        ("PUT", f"{base}/address/{address_id}", {"city": "Mine"}),
        ("POST", f"{base}/address", {"city": "Mine"}),
        ("POST", f"{base}/inactive", None),
        ("GET", f"{base}/comments", None),
    ]:
        assert_error(client.request(method, url, json=body, headers=tenant.headers), 404, 1002)
    created = client.post(f"{CONTACTS}/contactpersons", json={"contact_id": theirs["contact_id"], "first_name": "X"},
                          headers=tenant.headers)  # fmt: skip
    assert_error(created, 400, 2, "contact_id")
    assert _get(client, other, theirs["contact_id"]) == theirs
