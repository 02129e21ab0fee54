"""GET and DELETE /expense/v1/contacts/{id}."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import CONTACTS, Tenant, assert_error, make_contact


def test_delete_removes_the_contact(client: Any, tenant: Tenant) -> None:
    contact = make_contact(
        client, tenant, contact_persons=[{"first_name": "A"}], custom_fields=[{"customfield_id": "1"}]
    )
    url = f"{CONTACTS}/{contact['contact_id']}"
    assert client.delete(url, headers=tenant.headers).json() == {
        "code": 0,
        "message": "The customer has been deleted.",
    }
    assert_error(client.get(url, headers=tenant.headers), 404, 1002, "Customer does not exist.")
    assert_error(client.delete(url, headers=tenant.headers), 404, 1002)
    assert client.get(CONTACTS, headers=tenant.headers).json()["customers"] == []


def test_a_deleted_name_can_be_used_again(client: Any, tenant: Tenant) -> None:
    contact = make_contact(client, tenant, contact_name="Again")
    client.delete(f"{CONTACTS}/{contact['contact_id']}", headers=tenant.headers)
    assert make_contact(client, tenant, contact_name="again")["contact_name"] == "again"


@pytest.mark.parametrize("contact_id", ["46000000000099999", "abc", "-1", "1.5", "9" * 30, "0", "²", "٣"])
def test_unknown_or_malformed_ids_are_404(client: Any, tenant: Tenant, contact_id: str) -> None:
    for method in ("GET", "DELETE"):
        response = client.request(method, f"{CONTACTS}/{contact_id}", headers=tenant.headers)
        assert_error(response, 404, 1002, "Customer does not exist.")


def test_responses_are_json_with_zoho_content_type(client: Any, tenant: Tenant) -> None:
    contact = make_contact(client, tenant)
    response = client.get(f"{CONTACTS}/{contact['contact_id']}", headers=tenant.headers)
    assert response.headers["content-type"] == "application/json;charset=UTF-8"
