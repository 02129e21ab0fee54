"""The OpenAPI document describes the real bodies and envelopes."""

from __future__ import annotations

from typing import Any


def test_openapi_document(client: Any) -> None:
    response = client.get("/docs/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    operations = {
        operation["operationId"]: (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }
    assert {"createCustomer", "listCustomers", "getCustomer", "updateCustomer", "deleteCustomer"} <= set(
        operations
    )
    assert {"markActive", "createContactPerson", "createAddress", "listComments"} <= set(operations)
    assert {path.split("/")[1] for path, _, _ in operations.values()} == {"expense", "oauth"}
    create = operations["createCustomer"][2]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ContactCreate"
    }
    assert "201" in create["responses"]
    assert "401" in create["responses"]
    contact = document["components"]["schemas"]["Contact"]
    assert list(contact["properties"])[:3] == ["contact_id", "contact_name", "company_name"]
    assert "zohoOAuthToken" in document["components"]["securitySchemes"]


def test_swagger_ui_is_served(client: Any) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert "swagger" in response.text.lower()
