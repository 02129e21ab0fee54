"""The OpenAPI document: Litestar generates paths and parameters; the request and response bodies are
msgspec's schemas of the very Structs the routes decode and the stored JSON follows. Schemas and operations
carry the reference page's own JSON examples (openapi_examples.json, checked against the page by the tests)."""

from __future__ import annotations

from importlib import resources
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, Router, get
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import InternalServerException
from litestar.openapi.plugins import OpenAPIRenderPlugin, RedocRenderPlugin, SwaggerRenderPlugin
from litestar.static_files import create_static_files_router
from openapi_ui_bundles import redoc as redoc_files
from openapi_ui_bundles import swagger_ui as swagger_files

from zcontacts.api.errors import render
from zcontacts.domain.listing import (
    CONTACT_TYPES,
    EMPTY_FILTERS,
    FILTER_FIELDS,
    MAX_PER_PAGE,
    SORT_COLUMNS,
    STATUS_FILTERS,
)
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
from zcontacts.errors import InvalidURL

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
# Every refusal any operation can give (README, "Error codes"), each with the Zoho envelope as its body.
_ERRORS = {
    "400": "Invalid input, unknown organization (code 6041) or duplicate name (code 3062)",
    "401": "Missing, invalid, expired or revoked token, or missing scope (code 57)",
    "404": "No such customer, person or address in this organization (code 1002)",
    "413": "Body over the size limit",
    "415": "Unsupported content type",
    "429": "The organization's rate limit is spent (code 44; Retry-After)",
    "500": "Unexpected failure (code 1000, no detail)",
    "503": "Overloaded or database down: no database connection in time (code 1000; Retry-After)",
}
# Operations taking an Idempotency-Key (409 when reused for another request) and If-Match (412 when stale).
_IDEMPOTENT = {
    "createCustomer",
    "updateCustomer",
    "createContactPerson",
    "updateContactPerson",
    "createAddress",
    "updateAddress",
}
_CONDITIONAL = {"updateCustomer", "deleteCustomer"}
_ETAG_ANSWERS = {"createCustomer", "getCustomer", "updateCustomer"}
_IDEMPOTENCY_HEADER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Any 1 to 255 visible ASCII characters (a UUID): a retry with the same key replays the first "
    "reply for 24 hours instead of writing again; the same key with another request is a 409.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
}
_IF_MATCH_HEADER = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": "The ETag of the customer as last read (or `*`): a stale one is refused with a 412.",
    "schema": {"type": "string"},
}
_ETAG = {
    "ETag": {
        "description": "Strong validator of the customer's stored state; send it back as If-Match.",
        "required": True,
        "schema": {"type": "string"},
    }
}
_RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "string"}}
}
_LIST_PARAMETERS: list[dict[str, Any]] = [
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 1}},
    {"name": "per_page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE}},
    {
        "name": "filter_by",
        "in": "query",
        "schema": {"type": "string", "enum": [*STATUS_FILTERS, *EMPTY_FILTERS]},
    },
    {"name": "contact_type", "in": "query", "schema": {"type": "string", "enum": list(CONTACT_TYPES)}},
    {"name": "search_text", "in": "query", "schema": {"type": "string"}},
    {"name": "sort_column", "in": "query", "schema": {"type": "string", "enum": list(SORT_COLUMNS)}},
    {"name": "sort_order", "in": "query", "schema": {"type": "string", "enum": ["A", "D"]}},
    *(
        {"name": f"{field}{suffix}", "in": "query", "schema": {"type": "string"}}
        for field in FILTER_FIELDS
        for suffix in ("", "_startswith", "_contains")
    ),
]
_PAGE_PARAMETERS: list[dict[str, Any]] = _LIST_PARAMETERS[:2]
_PAGED = {"listContactPersons", "listComments"}
# Links from a create to what can be done with what it made (schemathesis' stateful runs follow them).
_CONTACT_ID = {"contact_id": "$response.body#/contact/contact_id"}
_PERSON_ID = {"contact_person_id": "$response.body#/contact_person/contact_person_id"}
_LINKS: dict[str, dict[str, dict[str, Any]]] = {
    "createCustomer": {
        name: {"operationId": name, "parameters": _CONTACT_ID}
        for name in (
            "getCustomer",
            "updateCustomer",
            "deleteCustomer",
            "listContactPersons",
            "listAddresses",
            "createAddress",
            "listComments",
            "markActive",
            "markInactive",
        )
    },
    "createContactPerson": {
        name: {"operationId": name, "parameters": _PERSON_ID}
        for name in ("updateContactPerson", "deleteContactPerson", "markPrimaryContactPerson")
    },
}
_OAUTH_ERRORS = {
    "400": "invalid_code, invalid_request or unsupported_grant_type",
    "401": "invalid_client",
    "413": "Body over the size limit",
    "500": "Unexpected failure (code 1000, no detail)",
    "503": "Overloaded (code 1000; Retry-After)",
}
_OAUTH_PARAMETERS = [
    {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
    for name in ("grant_type", "client_id", "client_secret", "code", "refresh_token", "redirect_uri")
]

_ORGANIZATION_HEADER = {
    "name": "X-com-zoho-expense-organizationid",
    "in": "header",
    "required": True,
    "description": "The organization's id (or send the organization_id query parameter).",
    "schema": {"type": "string"},
}


class _CompletedOpenAPI(OpenAPIPlugin):
    """Litestar's OpenAPI plugin, serving the completed document, built on its first request: building it
    at start-up was ~25 ms of every cold start. Same slots, so an existing plugin can take this class."""

    __slots__ = ()

    def provide_openapi_schema(self) -> dict[str, Any]:
        """The completed document (Litestar's own routes serve this)."""
        document = self._openapi_schema or complete_openapi(self.app)
        self._openapi_schema = document
        return document


def defer_openapi(app: Litestar) -> None:
    """Serve the completed document, building it when it is first asked for."""
    app.plugins.get(OpenAPIPlugin).__class__ = _CompletedOpenAPI


def complete_openapi(app: Litestar) -> dict[str, Any]:
    """The generated document with its bodies, error responses and examples filled in."""
    document: dict[str, Any] = app.openapi_schema.to_schema()
    kinds = {*_BODIES.values(), *(kind for _, kind in _SUCCESS.values()), Envelope}
    _, components = msgspec.json.schema_components(sorted(kinds, key=lambda k: k.__name__), ref_template=_REF)
    document.setdefault("components", {}).setdefault("schemas", {}).update(components)
    _document_rules(document["components"]["schemas"])
    document["components"]["securitySchemes"] = {
        "zohoOAuthToken": {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Zoho-oauthtoken <token>`; make one with `zcontacts tokens create --org ORG_ID`.",
        }
    }
    document["security"] = [{"zohoOAuthToken": []}]
    document["components"]["schemas"]["OAuthError"] = {
        "type": "object",
        "properties": {"error": {"type": "string"}},
        "required": ["error"],
    }
    examples = reference_examples()
    _add_schema_examples(document["components"]["schemas"], examples)
    for path, path_item in document.get("paths", {}).items():
        if path.startswith("/oauth/"):
            _complete_oauth(path, path_item["post"])
            continue
        for operation in path_item.values():
            if not isinstance(operation, dict) or "operationId" not in operation:
                continue
            _complete(operation)
            _add_operation_examples(operation, examples)
    return document


# The rules beyond types that validation enforces (domain/validation.py), stated in the document too, so
# clients (and schemathesis' generators) know what a valid body is. ECMA-262 patterns, as JSON Schema uses.
_NON_BLANK = r"\S"
_EMAIL = r"^$|^[^@\s]+@[^@\s]+\.[^@\s.]+$"
_SALUTATION = r"^$|^([Mm][Rr][Ss]?|[Mm][Ii][Ss][Ss]|[Mm][Ss]|[Dd][Rr])\.?$"
_NO_NUL = r"^[^\u0000]*$"


def _document_rules(schemas: dict[str, Any]) -> None:
    create = schemas["ContactCreate"]
    create["required"] = ["contact_name"]
    create["properties"]["contact_name"] = {
        "type": "string",
        "minLength": 1,
        "maxLength": 200,
        "pattern": _NON_BLANK,
    }
    for name in ("ContactCreate", "ContactUpdate", "ContactPersonIn", "ContactPersonCreate"):
        properties = schemas[name]["properties"]
        for field, pattern in (
            ("email", _EMAIL),
            ("salutation", _SALUTATION),
            ("contact_salutation", _SALUTATION),
        ):
            string = _string_variant(properties[field]) if field in properties else None
            if string is not None:
                string["pattern"] = pattern
    for name, schema in schemas.items():
        if name.endswith(("In", "Create", "Update")):
            for prop in schema.get("properties", {}).values():
                string = _string_variant(prop)
                if string is not None and "pattern" not in string:
                    string["pattern"] = _NO_NUL
    custom_id = schemas["CustomFieldIn"]["properties"]["customfield_id"]
    custom_id["anyOf"][0].update({"minLength": 1, "maxLength": 100, "pattern": _NON_BLANK})


def _string_variant(schema: dict[str, Any]) -> dict[str, Any] | None:
    """The `{"type": "string"}` part of a property's schema (itself, or one of its anyOf)."""
    if schema.get("type") == "string":
        return schema
    return next((variant for variant in schema.get("anyOf", []) if variant.get("type") == "string"), None)


def _ref(kind: type[msgspec.Struct]) -> dict[str, Any]:
    return {"$ref": _REF.format(name=kind.__name__)}


def _json(kind: type[msgspec.Struct]) -> dict[str, Any]:
    return {"application/json": {"schema": _ref(kind)}}


def _complete(operation: dict[str, Any]) -> None:
    operation_id = operation["operationId"]
    if operation_id in _BODIES:
        operation["requestBody"] = {"required": True, "content": _json(_BODIES[operation_id])}
    status, kind = _SUCCESS.get(operation_id, ("200", Envelope))
    success: dict[str, Any] = {"description": "Success (code 0)", "content": _json(kind)}
    if operation_id in _ETAG_ANSWERS:
        success["headers"] = _ETAG
    if operation_id in _LINKS:
        success["links"] = _LINKS[operation_id]
    responses: dict[str, Any] = {status: success}
    for error_status, description in _ERRORS.items():
        responses[error_status] = {"description": description, "content": _json(Envelope)}
    for error_status in ("429", "503"):
        responses[error_status]["headers"] = _RETRY_AFTER
    parameters = operation.setdefault("parameters", [])
    parameters.insert(0, _ORGANIZATION_HEADER)
    if operation_id in _IDEMPOTENT:
        responses["409"] = {
            "description": "Idempotency-Key reused for another request",
            "content": _json(Envelope),
        }
        parameters.append(_IDEMPOTENCY_HEADER)
    if operation_id in _CONDITIONAL:
        responses["412"] = {"description": "If-Match names a stale ETag", "content": _json(Envelope)}
        parameters.append(_IF_MATCH_HEADER)
    if operation_id == "listCustomers":
        parameters.extend(_LIST_PARAMETERS)
    elif operation_id in _PAGED:
        parameters.extend(_PAGE_PARAMETERS)
    operation["responses"] = dict(sorted(responses.items()))


def _complete_oauth(path: str, operation: dict[str, Any]) -> None:
    """Zoho Accounts' endpoints: parameters in the query (or a form), refusals as {"error": …}."""
    operation["security"] = []  # the token endpoint authenticates the client itself
    parameters = (
        _OAUTH_PARAMETERS
        if path.endswith("/token")
        else [{"name": "token", "in": "query", "schema": {"type": "string"}}]
    )
    operation["parameters"] = [dict(p) for p in parameters]
    responses = {
        "200": {
            "description": "Tokens, or the revocation's success",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    }
    for status, description in _OAUTH_ERRORS.items():
        schema = (
            _ref(Envelope) if status in ("413", "500", "503") else {"$ref": _REF.format(name="OAuthError")}
        )
        responses[status] = {"description": description, "content": {"application/json": {"schema": schema}}}
    operation["responses"] = responses


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
    return Response(plugin.render(request, openapi.provide_openapi_schema()), media_type="text/html")


# Swagger UI and ReDoc load their JavaScript and CSS from zcontacts itself (the openapi-ui-bundles package),
# not from a CDN: a self-hosted server's docs must work on a machine without internet access.
ASSETS = "/docs/assets"


def docs_pages() -> tuple[list[OpenAPIRenderPlugin], list[Router]]:
    """The render plugins of the docs pages, pointed at local files, and the routers serving those files."""
    swagger = f"{ASSETS}/swagger"
    favicon = f"<link rel='icon' type='image/png' href='{swagger}/favicon-32x32.png'>"
    plugins: list[OpenAPIRenderPlugin] = [
        SwaggerRenderPlugin(
            js_url=f"{swagger}/swagger-ui-bundle.js",
            css_url=f"{swagger}/swagger-ui.css",
            standalone_preset_js_url=f"{swagger}/swagger-ui-standalone-preset.js",
            favicon=favicon,
        ),
        RedocRenderPlugin(js_url=f"{ASSETS}/redoc/redoc.standalone.js", google_fonts=False, favicon=favicon),
    ]
    cache = CacheControlHeader(max_age=86_400, public=True)  # the files change only with the package
    # A name the file system cannot take (a NUL, too long, a file used as a folder) fails in Litestar's file
    # handler (a ValueError, or an OSError it re-raises as a 500): no such file, so a 404, not a 500 logged
    # with its trace. These routers serve nothing else.
    unreadable: dict[int | type[Exception], Any] = dict.fromkeys(
        (ValueError, OSError, InternalServerException), _no_such_asset
    )
    routers = [
        create_static_files_router(
            path=swagger,
            directories=[swagger_files.static_path],
            name="swagger-assets",
            cache_control=cache,
            exception_handlers=unreadable,
        ),
        create_static_files_router(
            path=f"{ASSETS}/redoc",
            directories=[redoc_files.static_path],
            name="redoc-assets",
            cache_control=cache,
            exception_handlers=unreadable,
        ),
    ]
    return plugins, routers


def _no_such_asset(_request: Request[Any, Any, Any], _exc: Exception) -> Response[bytes]:
    return render(InvalidURL())
