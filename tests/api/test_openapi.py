"""The OpenAPI document describes the real bodies and envelopes."""

from __future__ import annotations

import re
from typing import Any

import msgspec
import pytest

from tests.helpers import reference
from zcontacts.api.openapi import reference_examples
from zcontacts.domain.schemas import ContactCreate, ContactUpdate


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


def test_schemas_and_operations_carry_the_references_examples(client: Any) -> None:
    document = client.get("/docs/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert schemas["ContactCreate"]["examples"] == [reference("create_request")]
    assert schemas["ContactUpdate"]["examples"] == [reference("update_request")]
    assert schemas["Contact"]["examples"] == [reference("get_response")["contact"]]
    assert schemas["ContactListEnvelope"]["examples"] == [reference("list_response")]
    assert schemas["ContactPerson"]["examples"] == [reference("attribute_contact_person")]
    operations = {
        operation["operationId"]: operation
        for item in document["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    }
    create = operations["createCustomer"]
    assert create["requestBody"]["content"]["application/json"]["example"] == reference("create_request")
    assert create["responses"]["201"]["content"]["application/json"]["example"] == reference(
        "create_response"
    )
    update = operations["updateCustomer"]
    assert update["requestBody"]["content"]["application/json"]["example"] == reference("update_request")
    for operation_id, status, name in (
        ("listCustomers", "200", "list_response"),
        ("getCustomer", "200", "get_response"),
        ("updateCustomer", "200", "update_response"),
        ("deleteCustomer", "200", "delete_response"),
    ):
        example = operations[operation_id]["responses"][status]["content"]["application/json"]["example"]
        assert example == reference(name), operation_id


def test_the_request_examples_are_bodies_the_api_accepts() -> None:
    for name, kind in (("create_request", ContactCreate), ("update_request", ContactUpdate)):
        msgspec.json.decode(msgspec.json.encode(reference(name)), type=kind)
    assert reference_examples() == {name: reference(name) for name in reference_examples()}


def test_the_docs_pages_load_nothing_from_elsewhere(client: Any) -> None:
    """Swagger UI and ReDoc come with zcontacts (no CDN), so the docs work on a machine without internet."""
    for page in ("/docs", "/docs/swagger", "/redoc", "/docs/redoc"):
        html = client.get(page).text
        linked = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
        assert linked, page
        assert all(url.startswith("/docs/assets/") for url in linked), (page, linked)
        for url in linked:
            asset = client.get(url)
            assert asset.status_code == 200, url
            assert asset.headers["content-type"].split(";")[0] in (
                "text/javascript",
                "text/css",
                "image/png",
            ), url
            assert len(asset.content) > 500, url
    assert client.get("/docs/assets/swagger/missing.js").status_code == 404


def test_redoc_is_served_with_the_completed_document(client: Any) -> None:
    for path in ("/redoc", "/docs/redoc"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "Redoc.init(" in response.text
    assert "Kenny Digital" in client.get("/redoc").text  # the examples are in the embedded document


@pytest.mark.parametrize(
    "name",
    ["%00", "a%00b.js", "a" * 300, "swagger-ui.css/x", "../../../etc/passwd", "%2e%2e/%2e%2e/etc/passwd"],
)
def test_an_asset_name_the_file_system_cannot_take_is_404(
    client: Any, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """No such file, whatever the name: a 404 in the Zoho envelope, never a 500 logged with a trace (anyone can
    ask, without a token)."""
    import logging

    with caplog.at_level(logging.ERROR, logger="zcontacts"):
        for folder in ("swagger", "redoc"):
            response = client.get(f"/docs/assets/{folder}/{name}")
            assert response.status_code == 404, (folder, name, response.text[:200])
            assert response.json()["code"] == 5
    assert "unhandled error" not in caplog.text
    assert client.get("/docs/assets/swagger/swagger-ui.css").status_code == 200
