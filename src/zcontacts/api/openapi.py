"""The OpenAPI document: Litestar generates paths and parameters; the request and response bodies are
msgspec's schemas of the very Structs the routes decode and the stored JSON follows. Schemas and operations
carry the reference page's own JSON examples (openapi_examples.json, checked against the page by the tests)."""

from __future__ import annotations

from importlib import resources
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, get
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.openapi.plugins import RedocRenderPlugin

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
# Operation → (request example, success response example), by name in openapi_examples.json.
_OPERATION_EXAMPLES: dict[str, tuple[str | None, str]] = {
    "createCustomer": ("create_request", "create_response"),
    "listCustomers": (None, "list_response"),
    "getCustomer": (None, "get_response"),
    "updateCustomer": ("update_request", "update_response"),
    "deleteCustomer": (None, "delete_response"),
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
    examples = reference_examples()
    _add_schema_examples(document["components"]["schemas"], examples)
    for path, path_item in document.get("paths", {}).items():
        if path.startswith("/oauth/"):
            path_item["post"]["security"] = []  # the token endpoint authenticates the client itself
            continue
        for operation in path_item.values():
            if not isinstance(operation, dict) or "operationId" not in operation:
                continue
            _complete(operation)
            _add_operation_examples(operation, examples)
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


def reference_examples() -> dict[str, Any]:
    """The reference page's JSON examples by name (create_request, get_response, …)."""
    text = resources.files("zcontacts.api").joinpath("openapi_examples.json").read_text("utf-8")
    examples: dict[str, Any] = msgspec.json.decode(text)
    return examples


def _add_schema_examples(schemas: dict[str, Any], examples: dict[str, Any]) -> None:
    by_schema = {
        "ContactCreate": examples["create_request"],
        "ContactUpdate": examples["update_request"],
        "Contact": examples["get_response"]["contact"],
        "ContactEnvelope": examples["get_response"],
        "ContactListEnvelope": examples["list_response"],
        "ContactSummary": examples["list_response"]["customers"][0],
        "ContactPerson": examples["attribute_contact_person"],
        "CustomField": examples["attribute_custom_field"],
        "Envelope": examples["delete_response"],
    }
    for name, example in by_schema.items():
        if name in schemas:
            schemas[name]["examples"] = [example]


def _add_operation_examples(operation: dict[str, Any], examples: dict[str, Any]) -> None:
    names = _OPERATION_EXAMPLES.get(operation["operationId"])
    if names is None:
        return
    request_name, response_name = names
    if request_name is not None:
        operation["requestBody"]["content"]["application/json"]["example"] = examples[request_name]
    success = next(status for status in operation["responses"] if status.startswith("2"))
    operation["responses"][success]["content"]["application/json"]["example"] = examples[response_name]


@get("/redoc", include_in_schema=False)
async def redoc(request: Request[Any, Any, Any]) -> Response[bytes]:
    """ReDoc at /redoc (Litestar serves it at /docs/redoc too), rendering the completed document."""
    openapi = request.app.plugins.get(OpenAPIPlugin)
    plugin = next(p for p in openapi.openapi_config.render_plugins if isinstance(p, RedocRenderPlugin))
    return Response(
        plugin.render(request, openapi._openapi_schema or {}), media_type="text/html; charset=utf-8"
    )
