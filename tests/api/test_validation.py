"""Every bad body gets a 4xx Zoho envelope naming the field, and nothing is stored."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import CONTACTS, Tenant, assert_error, make_contact


def _count(client: Any, tenant: Tenant) -> int:
    return len(client.get(CONTACTS, headers=tenant.headers).json()["customers"])


CASES: list[tuple[Any, int, int, str]] = [
    ({}, 400, 11, "contact_name is required"),
    ({"contact_name": ""}, 400, 11, "contact_name"),
    ({"contact_name": "   "}, 400, 11, "contact_name"),
    ({"contact_name": None}, 400, 11, "contact_name"),
    ({"contact_name": "x" * 201}, 400, 15, "contact_name must be at most 200"),
    ({"contact_name": 5}, 400, 2, "contact_name"),
    ({"contact_name": "A", "company_name": "c" * 201}, 400, 15, "company_name"),
    ({"contact_name": "A", "facebook": "f" * 101}, 400, 15, "facebook"),
    ({"contact_name": "A", "email": "not-an-email"}, 400, 2, "email"),
    ({"contact_name": "A", "email": "a@b.com\n"}, 400, 2, "email"),
    ({"contact_name": "A", "email": "a@b..com"}, 400, 2, "email"),
    ({"contact_name": "A", "email": ".a@b.com"}, 400, 2, "email"),
    ({"contact_name": "A", "email": "a@-b.com"}, 400, 2, "email"),
    ({"contact_name": "A", "contact_salutation": "Sir"}, 400, 2, "contact_salutation"),
    ({"contact_name": "A", "contact_persons": [{"salutation": "Mr.."}]}, 400, 2, "contact_persons[0].salutation"),
    ({"contact_name": "A", "contact_persons": [{"email": "a@b"}]}, 400, 2, "contact_persons[0].email"),
    ({"contact_name": "A", "contact_persons": [{}, {"email": "x@y.z", "first_name": "n" * 101}]}, 400, 15,
     "contact_persons[1].first_name"),
    ({"contact_name": "A", "contact_persons": [{"phone": "1" * 51}]}, 400, 15, "contact_persons[0].phone"),
    ({"contact_name": "A", "contact_persons": [{"can_invite": "true"}]}, 400, 2, "contact_persons[0].can_invite"),
    ({"contact_name": "A", "contact_persons": [{"is_primary_contact": 1}]}, 400, 2, "is_primary_contact"),
    ({"contact_name": "A", "contact_persons": [{"is_primary_contact": True}, {"is_primary_contact": True}]}, 400, 2,
     "only one contact person"),
    ({"contact_name": "A", "contact_persons": {"first_name": "x"}}, 400, 2, "contact_persons"),
    ({"contact_name": "A", "contact_persons": [{}] * 101}, 400, 2, "at most 100"),
    ({"contact_name": "A", "billing_address": {"address": "a" * 501}}, 400, 15, "billing_address.address"),
    ({"contact_name": "A", "shipping_address": {"zip": "1" * 51}}, 400, 15, "shipping_address.zip"),
    ({"contact_name": "A", "billing_address": "Main street"}, 400, 2, "billing_address"),
    ({"contact_name": "A", "custom_fields": [{"value": "x"}]}, 400, 11, "custom_fields[0].customfield_id"),
    ({"contact_name": "A", "custom_fields": [{"customfield_id": ""}]}, 400, 11, "customfield_id"),
    ({"contact_name": "A", "custom_fields": [{"customfield_id": "1", "value": {"a": 1}}]}, 400, 2, "custom_fields[0].value"),
    ({"contact_name": "A", "website": ["x"]}, 400, 2, "website"),
    ({"contact_name": "A\u0000B"}, 400, 2, "NUL"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "status", "code", "words"), CASES)
def test_bad_create_bodies_are_refused(
    client: Any, tenant: Tenant, body: Any, status: int, code: int, words: str
) -> None:
    assert_error(client.post(CONTACTS, json=body, headers=tenant.headers), status, code, words)
    assert _count(client, tenant) == 0


@pytest.mark.parametrize(
    ("body", "status", "code", "words"), [c for c in CASES if c[0].get("contact_name") == "A"]
)
def test_bad_update_bodies_are_refused_and_change_nothing(
    client: Any, tenant: Tenant, body: Any, status: int, code: int, words: str
) -> None:
    contact = make_contact(client, tenant)
    url = f"{CONTACTS}/{contact['contact_id']}"
    assert_error(
        client.put(url, json={**body, "contact_name": "Renamed"}, headers=tenant.headers), status, code, words
    )
    assert client.get(url, headers=tenant.headers).json()["contact"] == contact


def test_empty_name_on_update_is_refused(client: Any, tenant: Tenant) -> None:
    contact = make_contact(client, tenant)
    response = client.put(
        f"{CONTACTS}/{contact['contact_id']}", json={"contact_name": ""}, headers=tenant.headers
    )
    assert_error(response, 400, 11, "contact_name")


def test_duplicate_name_ignoring_case(client: Any, tenant: Tenant) -> None:
    make_contact(client, tenant, contact_name="Kenny Digital")
    response = client.post(CONTACTS, json={"contact_name": " kenny DIGITAL "}, headers=tenant.headers)
    assert_error(response, 400, 3062, "already exists")
    assert _count(client, tenant) == 1


@pytest.mark.parametrize("salutation", ["Mr", "Mr.", "Mrs", "Miss", "Ms.", "Dr", "dr.", ""])
def test_valid_salutations(client: Any, tenant: Tenant, salutation: str) -> None:
    contact = make_contact(client, tenant, contact_persons=[{"salutation": salutation}])
    assert contact["contact_persons"][0]["salutation"] == salutation
    assert contact["contact_salutation"] == salutation.rstrip(".")


@pytest.mark.parametrize(
    ("content", "words"),
    [(b"{", "JSON is not well formed"), (b"[]", "JSON object"), (b'"x"', "JSON object"), (b"", "empty"),
     (b"\xff\xfe{}", "JSON is not well formed"), (b'{"contact_name": "a"} trailing', "JSON is not well formed")],
)  # fmt: skip
def test_malformed_json_is_refused(client: Any, tenant: Tenant, content: bytes, words: str) -> None:
    response = client.post(
        CONTACTS, content=content, headers={**tenant.headers, "content-type": "application/json"}
    )
    assert_error(response, 400, 1038, words)


def test_wrong_content_type_is_415(client: Any, tenant: Tenant) -> None:
    response = client.post(
        CONTACTS, content=b'{"contact_name":"A"}', headers={**tenant.headers, "content-type": "text/plain"}
    )
    assert_error(response, 415, 2, "application/json")
    assert _count(client, tenant) == 0


def test_legacy_form_body_with_json_string(client: Any, tenant: Tenant) -> None:
    response = client.post(
        CONTACTS, data={"JSONString": '{"contact_name": "Form Co"}'}, headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    assert response.json()["contact"]["contact_name"] == "Form Co"
    response = client.post(CONTACTS, data={"other": "x"}, headers=tenant.headers)
    assert_error(response, 400, 2, "JSONString")


def test_body_over_one_mebibyte_is_413(client: Any, tenant: Tenant) -> None:
    content = b'{"contact_name": "A", "notes": "' + b"x" * (1024 * 1024) + b'"}'
    response = client.post(
        CONTACTS, content=content, headers={**tenant.headers, "content-type": "application/json"}
    )
    assert_error(response, 413, 2, "too large")
    assert _count(client, tenant) == 0


def test_framework_error_bodies_never_leak(client: Any, tenant: Tenant) -> None:
    response = client.post(CONTACTS, json={"contact_name": {"nested": True}}, headers=tenant.headers)
    body = assert_error(response, 400, 2, "contact_name")
    assert "extra" not in body
    assert "detail" not in body
    assert "status_code" not in body


def test_legacy_form_body_on_update(client: Any, tenant: Tenant) -> None:
    contact = make_contact(client, tenant)
    url = f"{CONTACTS}/{contact['contact_id']}"
    response = client.put(url, data={"JSONString": '{"notes": "from a form"}'}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    assert response.json()["contact"]["notes"] == "from a form"
    assert_error(client.put(url, data={"JSONString": "{not json"}, headers=tenant.headers), 400, 1038)


def test_json_string_in_the_query_with_no_body(client: Any, tenant: Tenant) -> None:
    """Older Zoho Books SDKs send JSONString (and organization_id) as query parameters of a POST or PUT with
    no body: read like a body, on both prefixes. A body, when there is one, wins."""
    books = {"Authorization": tenant.headers["Authorization"]}
    created = client.post("/books/v3/contacts", params={"organization_id": tenant.organization_id,
                          "JSONString": '{"contact_name": "Query Co"}'}, headers=books)  # fmt: skip
    assert created.status_code == 201, created.text
    contact_id = created.json()["contact"]["contact_id"]
    updated = client.put(f"{CONTACTS}/{contact_id}", params={"JSONString": '{"notes": "by query"}'},
                         headers=tenant.headers)  # fmt: skip
    assert updated.json()["contact"]["notes"] == "by query"
    both = client.put(f"{CONTACTS}/{contact_id}", params={"JSONString": '{"notes": "query"}'},
                      json={"notes": "body"}, headers=tenant.headers)  # fmt: skip
    assert both.json()["contact"]["notes"] == "body"
    assert_error(client.post(CONTACTS, headers=tenant.headers), 400, 1038, "empty")
    bad = client.post(CONTACTS, params={"JSONString": "{nope"}, headers=tenant.headers)
    assert_error(bad, 400, 1038)
    assert _count(client, tenant) == 1
