"""The reference page's JSON examples are fixtures: every response has their keys, nesting, order and types."""

from __future__ import annotations

import re
from typing import Any

from tests.helpers import CONTACTS, Tenant, key_shape, reference

ZOHO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}$")
SERVER_MADE = {
    "contact_id",
    "primary_contact_id",
    "currency_id",
    "created_time",
    "last_modified_time",
    "notes",
}


def _values_match_reference(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    """Everything the client sent or the server fixes comes back as in the reference; ids are fresh."""
    for key, value in theirs.items():
        if key in SERVER_MADE:
            continue
        if key in ("billing_address", "shipping_address"):
            assert {k: v for k, v in ours[key].items() if k != "address_id"} == {
                k: v for k, v in value.items() if k != "address_id"
            }
        elif key == "contact_persons":
            assert [{k: v for k, v in p.items() if k != "contact_person_id"} for p in ours[key]] == [
                {k: v for k, v in p.items() if k != "contact_person_id"} for p in value
            ]
        else:
            assert ours[key] == value, key
    assert ours["contact_id"].isdigit()
    assert ours["primary_contact_id"] == ours["contact_persons"][0]["contact_person_id"]
    assert ours["currency_id"].isdigit()
    assert ZOHO_TIME.match(ours["created_time"])
    assert ZOHO_TIME.match(ours["last_modified_time"])


def test_create_with_the_reference_body_returns_the_reference_response(client: Any, tenant: Tenant) -> None:
    response = client.post(CONTACTS, json=reference("create_request"), headers=tenant.headers)
    assert response.status_code == 201
    body = response.json()
    expected = reference("create_response")
    assert key_shape(body) == key_shape(expected)
    assert body["code"] == 0
    assert body["message"] == expected["message"] == "The customer has been created."
    _values_match_reference(body["contact"], expected["contact"])


def test_get_returns_the_reference_shape(client: Any, tenant: Tenant) -> None:
    created = client.post(CONTACTS, json=reference("create_request"), headers=tenant.headers).json()[
        "contact"
    ]
    response = client.get(f"{CONTACTS}/{created['contact_id']}", headers=tenant.headers)
    assert response.status_code == 200
    body = response.json()
    expected = reference("get_response")
    assert key_shape(body) == key_shape(expected)
    assert body["message"] == "success"
    assert body["contact"] == created
    _values_match_reference(body["contact"], expected["contact"])


def test_list_items_have_exactly_the_reference_keys(client: Any, tenant: Tenant) -> None:
    client.post(CONTACTS, json=reference("create_request"), headers=tenant.headers)
    response = client.get(CONTACTS, headers=tenant.headers)
    assert response.status_code == 200
    body = response.json()
    expected = reference("list_response")
    assert list(body) == ["code", "message", "customers", "page_context"]
    assert body["code"] == 0
    assert body["message"] == "success"
    assert key_shape(body["customers"]) == key_shape(expected["customers"])
    item, reference_item = body["customers"][0], expected["customers"][0]
    for key in ("contact_name", "company_name", "contact_type", "status", "source", "currency_code", "first_name",
                "last_name", "email", "phone", "mobile", "custom_fields", "is_linked_with_zohocrm"):  # fmt: skip
        assert item[key] == reference_item[key], key
    assert list(body["page_context"]) == [
        "page", "per_page", "has_more_page", "applied_filter", "sort_column", "sort_order",
    ]  # fmt: skip


def test_update_with_the_reference_body_returns_the_reference_response(client: Any, tenant: Tenant) -> None:
    created = client.post(CONTACTS, json=reference("create_request"), headers=tenant.headers).json()[
        "contact"
    ]
    response = client.put(
        f"{CONTACTS}/{created['contact_id']}", json=reference("update_request"), headers=tenant.headers
    )
    assert response.status_code == 200
    body = response.json()
    expected = reference("update_response")
    assert key_shape(body) == key_shape(expected)
    assert body["message"] == "Customer information has been saved."
    _values_match_reference(body["contact"], expected["contact"])
    assert body["contact"]["notes"] == "note"
    assert body["contact"]["created_time"] == created["created_time"]


def test_delete_returns_exactly_the_reference_response(client: Any, tenant: Tenant) -> None:
    created = client.post(CONTACTS, json=reference("create_request"), headers=tenant.headers).json()[
        "contact"
    ]
    response = client.delete(f"{CONTACTS}/{created['contact_id']}", headers=tenant.headers)
    assert response.status_code == 200
    assert response.json() == reference("delete_response")
    assert response.text == '{"code":0,"message":"The customer has been deleted."}'


def test_the_reference_curl_headers_work_as_written(client: Any, tenant: Tenant) -> None:
    """The reference sends `content-type: application/json` and the two Zoho headers, nothing else."""
    response = client.post(
        CONTACTS,
        content=b'{"contact_name":"Curl Co"}',
        headers={**tenant.headers, "content-type": "application/json"},
    )
    assert response.status_code == 201
    assert response.headers["content-type"].startswith("application/json")
