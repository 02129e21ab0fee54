"""The OpenAPI document: Litestar generates paths and parameters; the request and response bodies are
msgspec's schemas of the very Structs the routes decode and the stored JSON follows."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Litestar
from litestar._openapi.plugin import OpenAPIPlugin

from zcontacts.domain.schemas import (
    AddressEnvelope,
    AddressIn,
    AddressListEnvelope,
    CommentsEnvelope,
    ContactCreate,
    ContactEnvelope,
    ContactListEnvelope,
    ContactPersonCreate,
    ContactPersonEnvelope,
    ContactPersonIn,
    ContactPersonListEnvelope,
    ContactUpdate,
    Envelope,
)

_REF = "#/components/schemas/{name}"
_BODIES: dict[str, type[msgspec.Struct]] = {
    "createCustomer": ContactCreate,
    "updateCustomer": ContactUpdate,
    "createContactPerson": ContactPersonCreate,
    "updateContactPerson": ContactPersonIn,
    "createAddress": AddressIn,
    "updateAddress": AddressIn,
}
_SUCCESS: dict[str, tuple[str, type[msgspec.Struct]]] = {
    "createCustomer": ("201", ContactEnvelope),
    "listCustomers": ("200", ContactListEnvelope),
    "getCustomer": ("200", ContactEnvelope),
    "updateCustomer": ("200", ContactEnvelope),
    "deleteCustomer": ("200", Envelope),
    "listContactPersons": ("200", ContactPersonListEnvelope),
    "getContactPerson": ("200", ContactPersonEnvelope),
    "createContactPerson": ("201", ContactPersonEnvelope),
    "updateContactPerson": ("200", ContactPersonEnvelope),
    "listAddresses": ("200", AddressListEnvelope),
    "createAddress": ("201", AddressEnvelope),
    "updateAddress": ("200", AddressEnvelope),
    "listComments": ("200", CommentsEnvelope),
}
_ERRORS = {
    "400": "Invalid input, unknown organization (code 6041) or duplicate name (code 3062)",
    "401": "Missing, invalid, expired or revoked token, or missing scope (code 57)",
    "404": "No such customer (code 1002)",
    "413": "Body over the size limit",
    "415": "Unsupported content type",
}

_ORGANIZATION_HEADER = {
    "name": "X-com-zoho-expense-organizationid",
    "in": "header",
    "required": True,
    "description": "The organization's id (or send the organization_id query parameter).",
    "schema": {"type": "string"},
}


def complete_openapi(app: Litestar) -> None:
    """Fill the generated document's bodies and error responses (once, at start-up)."""
    document: dict[str, Any] = app.openapi_schema.to_schema()
    kinds = {*_BODIES.values(), *(kind for _, kind in _SUCCESS.values()), Envelope}
    _, components = msgspec.json.schema_components(sorted(kinds, key=lambda k: k.__name__), ref_template=_REF)
    document.setdefault("components", {}).setdefault("schemas", {}).update(components)
    document["components"]["securitySchemes"] = {
        "zohoOAuthToken": {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Zoho-oauthtoken <token>`; make one with `zcontacts tokens create --org ORG_ID`.",
        }
    }
    document["security"] = [{"zohoOAuthToken": []}]
    for path, path_item in document.get("paths", {}).items():
        if path.startswith("/oauth/"):
            path_item["post"]["security"] = []  # the token endpoint authenticates the client itself
            continue
        for operation in path_item.values():
            if not isinstance(operation, dict) or "operationId" not in operation:
                continue
            _complete(operation)
    # Litestar serves the document its plugin caches; replacing that cache serves the completed one.
    app.plugins.get(OpenAPIPlugin)._openapi_schema = document


def _ref(kind: type[msgspec.Struct]) -> dict[str, Any]:
    return {"$ref": _REF.format(name=kind.__name__)}


def _json(kind: type[msgspec.Struct]) -> dict[str, Any]:
    return {"application/json": {"schema": _ref(kind)}}


def _complete(operation: dict[str, Any]) -> None:
    operation_id = operation["operationId"]
    if operation_id in _BODIES:
        operation["requestBody"] = {"required": True, "content": _json(_BODIES[operation_id])}
    status, kind = _SUCCESS.get(operation_id, ("200", Envelope))
    responses: dict[str, Any] = {status: {"description": "Success (code 0)", "content": _json(kind)}}
    for error_status, description in _ERRORS.items():
        responses[error_status] = {"description": description, "content": _json(Envelope)}
    operation["responses"] = responses
    operation.setdefault("parameters", []).insert(0, _ORGANIZATION_HEADER)
