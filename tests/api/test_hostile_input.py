"""Hostile input: every such body, path and query gets a 4xx with the Zoho envelope, never a 500, and writes
nothing. SQL and HTML metacharacters are data: stored and returned verbatim, with no effect on anything else."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from tests.helpers import CONTACTS, Tenant, make_contact
from zcontacts.domain.schemas import AddressIn, ContactPersonIn, ContactUpdate, CustomFieldIn

JSON = {"content-type": "application/json"}

RAW_BODIES: dict[str, bytes] = {
    "deeply nested array in an unknown field": b'{"contact_name":"A","zz":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "deeply nested object in an unknown field": b'{"contact_name":"A","zz":' + b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"}",
    "nested arrays as a custom field value": b'{"contact_name":"A","custom_fields":[{"customfield_id":"1","value":' + b"[" * 5000 + b"]" * 5000 + b"}]}",
    "invalid UTF-8": b'{"contact_name":"A\xff\xfeB"}',
    "invalid UTF-8 in an ignored field": b'{"contact_name":"A","junk":"\xff"}',
    "overlong UTF-8": b'{"contact_name":"A\xc0\xafB"}',
    "truncated UTF-8": b'{"contact_name":"A\xe2\x82"}',
    "lone surrogate escape": b'{"contact_name":"A\\ud800B"}',
    "escaped NUL": b'{"contact_name":"A\\u0000B"}',
    "escaped NUL in a person": b'{"contact_name":"A","contact_persons":[{"first_name":"x\\u0000"}]}',
    "raw NUL": b'{"contact_name":"A\x00B"}',
    "NaN": b'{"contact_name":"A","custom_fields":[{"customfield_id":"1","value":NaN}]}',
    "huge integer": b'{"contact_name":"A","custom_fields":[{"customfield_id":"1","value":' + b"9" * 5000 + b"}]}",
    "infinite float": b'{"contact_name":"A","custom_fields":[{"customfield_id":"1","value":1e999}]}',
    "huge string": b'{"contact_name":"' + b"x" * 900_000 + b'"}',
    "huge notes": b'{"contact_name":"A","notes":"' + b"x" * 10_001 + b'"}',
    "10,000 contact persons": json.dumps({"contact_name": "A", "contact_persons": [{"first_name": "x"}] * 10_000}).encode(),
    "10,000 custom fields": json.dumps({"contact_name": "A", "custom_fields": [{"customfield_id": "1"}] * 10_000}).encode(),
    "array body": b"[1, 2]",
    "string body": b'"contact"',
    "null body": b"null",
    "number body": b"42",
    "empty body": b"",
    "truncated JSON": b'{"contact_name": "A"',
    "trailing garbage": b'{"contact_name": "A"} x',
    "BOM": b'\xef\xbb\xbf{"contact_name":"A"}',
}  # fmt: skip


def _count(client: Any, tenant: Tenant) -> int:
    return len(client.get(CONTACTS, headers=tenant.headers).json()["customers"])


def _refused(response: Any, case: object = "") -> None:
    assert 400 <= response.status_code < 500, (case, response.text[:300])
    body = response.json()
    assert set(body) == {"code", "message"}, body
    assert isinstance(body["code"], int)
    assert body["code"] != 0
    assert "Traceback" not in body["message"]


def test_hostile_create_bodies_are_refused_and_write_nothing(client: Any, tenant: Tenant) -> None:
    for case, body in RAW_BODIES.items():
        response = client.post(CONTACTS, content=body, headers={**tenant.headers, **JSON})
        _refused(response, case)
    assert _count(client, tenant) == 0


def test_hostile_update_bodies_are_refused_and_change_nothing(client: Any, tenant: Tenant) -> None:
    contact = make_contact(client, tenant)
    url = f"{CONTACTS}/{contact['contact_id']}"
    for case, body in RAW_BODIES.items():
        update = body.replace(b'"contact_name":"A', b'"notes":"A', 1)
        _refused(client.put(url, content=update, headers={**tenant.headers, **JSON}), case)
    assert client.get(url, headers=tenant.headers).json()["contact"] == contact


def test_invalid_utf8_in_a_legacy_form_body(client: Any, tenant: Tenant) -> None:
    form = b"JSONString=%7B%22contact_name%22%3A%22A%FF%22%7D"
    headers = {**tenant.headers, "content-type": "application/x-www-form-urlencoded"}
    _refused(client.post(CONTACTS, content=form, headers=headers))
    assert _count(client, tenant) == 0


# ---- the wrong type at every field -------------------------------------------------------------------------


def _wrong_values(kind: type[msgspec.Struct]) -> list[tuple[str, Any]]:
    """(field, a value of a type the field does not take) for each field of a request struct."""
    wrong: list[tuple[str, Any]] = []
    for field in msgspec.structs.fields(kind):
        text = str(field.type)
        if "bool" in text and "str" not in text:
            candidates: list[Any] = ["true", 1, [], {}]
        elif "list" in text:
            candidates = ["x", 1, {"a": 1}, True]
        elif "AddressIn" in text:
            candidates = ["Main St", 1, [1], True]
        elif "int" in text:  # ids: str | int
            candidates = [1.5, [], {}, True]
        else:  # text fields: numbers where strings belong, and every other JSON type
            candidates = [123, 1.5, True, [], {"a": "b"}]
        wrong.extend((field.name, value) for value in candidates)
    return wrong


CONTACT_CASES = [(f, v) for f, v in _wrong_values(ContactUpdate)]
PERSON_CASES = [(f, v) for f, v in _wrong_values(ContactPersonIn)]
ADDRESS_CASES = [(f, v) for f, v in _wrong_values(AddressIn)]
CUSTOM_CASES = [(f, v) for f, v in _wrong_values(CustomFieldIn) if f != "value"]


@pytest.mark.backends("sqlite")
def test_every_field_refuses_every_wrong_type(client: Any, tenant: Tenant) -> None:
    """One test over all fields (a few hundred requests): each wrong type is a 400 naming the field."""
    bodies: list[tuple[str, dict[str, Any]]] = []
    for field, value in CONTACT_CASES:
        bodies.append(
            (field, {"contact_name": "A", field: value} if field != "contact_name" else {field: value})
        )
    for field, value in PERSON_CASES:
        bodies.append(
            (f"contact_persons[0].{field}", {"contact_name": "A", "contact_persons": [{field: value}]})
        )
    for field, value in ADDRESS_CASES:
        bodies.append((f"billing_address.{field}", {"contact_name": "A", "billing_address": {field: value}}))
        bodies.append(
            (f"shipping_address.{field}", {"contact_name": "A", "shipping_address": {field: value}})
        )
    for field, value in CUSTOM_CASES:
        bodies.append((f"custom_fields[0].{field}", {"contact_name": "A", "custom_fields": [{field: value}]}))
    assert len(bodies) > 200
    contact = make_contact(client, tenant, contact_name="Existing")
    url = f"{CONTACTS}/{contact['contact_id']}"
    for where, body in bodies:
        created = client.post(CONTACTS, json=body, headers=tenant.headers)
        _refused(created)
        assert where in created.json()["message"], (where, created.json())
        update = {k: v for k, v in body.items() if k != "contact_name"} or body
        _refused(client.put(url, json=update, headers=tenant.headers))
    assert _count(client, tenant) == 1
    assert client.get(url, headers=tenant.headers).json()["contact"] == contact


# ---- metacharacters are data ---------------------------------------------------------------------------------

METACHARACTERS = [
    "Robert'); DROP TABLE contacts;--",
    "' OR '1'='1",
    '" OR ""="',
    "100% _match_ \\ [x] *?",
    "<script>alert('x')</script>",
    "<img src=x onerror=alert(1)>&amp;&lt;",
    "{{7*7}} ${7*7} %s %n",
    "\u202eevil\u200b\ufeff",
]


def test_sql_and_html_metacharacters_are_stored_verbatim(client: Any, tenant: Tenant) -> None:
    bystander = make_contact(client, tenant, contact_name="Bystander")
    for text in METACHARACTERS:
        _round_trip(client, tenant, text, bystander)
    assert _count(client, tenant) == 1 + len(METACHARACTERS)


def _round_trip(client: Any, tenant: Tenant, text: str, bystander: dict[str, Any]) -> None:
    contact = make_contact(
        client,
        tenant,
        contact_name=text,
        notes=text,
        billing_address={"city": text[:100]},
        contact_persons=[{"first_name": text[:100]}],
    )
    stored = client.get(f"{CONTACTS}/{contact['contact_id']}", headers=tenant.headers).json()["contact"]
    assert (stored["contact_name"], stored["notes"]) == (text, text)
    assert stored["billing_address"]["city"] == text[:100]
    assert stored["contact_persons"][0]["first_name"] == text[:100]
    found = client.get(CONTACTS, params={"search_text": text[:20]}, headers=tenant.headers).json()[
        "customers"
    ]
    assert contact["contact_id"] in {c["contact_id"] for c in found}
    listed = client.get(CONTACTS, params={"contact_name": text}, headers=tenant.headers).json()["customers"]
    assert [c["contact_id"] for c in listed] == [contact["contact_id"]]
    assert (
        client.get(f"{CONTACTS}/{bystander['contact_id']}", headers=tenant.headers).json()["contact"]
        == bystander
    )


# ---- paths, query strings and headers ----------------------------------------------------------------------


HOSTILE_PATHS = (
    [f"{CONTACTS}/{'9' * 5000}", f"{CONTACTS}/-1", f"{CONTACTS}/1.5", f"{CONTACTS}/%00", f"{CONTACTS}/%ff",
     f"{CONTACTS}/99999999999999999999999", f"{CONTACTS}/1/contactpersons/{'9' * 40}",
     f"{CONTACTS}/1/address/{'9' * 40}", f"{CONTACTS}/contactpersons/{'9' * 40}", f"{CONTACTS}/'%20OR%201=1"]
)  # fmt: skip


def test_hostile_paths_are_4xx(client: Any, tenant: Tenant) -> None:
    for path in HOSTILE_PATHS:
        for method in ("GET", "PUT", "DELETE", "POST"):
            response = client.request(method, path, content=b"{}", headers={**tenant.headers, **JSON})
            _refused(response, (method, path[:80]))


HOSTILE_QUERIES = (
    ["page=99999999999999999999", "per_page=-1", "page=1e3", "page=0", "sort_column=%ff", "sort_order=%00",
     "per_page=201", "filter_by=Status.Everything", "search_text=" + "a" * 20_000, "search_text=%ff%fe",
     "page=1&page=2"]
)  # fmt: skip


def test_hostile_list_queries_never_fail(client: Any, tenant: Tenant) -> None:
    make_contact(client, tenant)
    for query in HOSTILE_QUERIES:
        response = client.get(f"{CONTACTS}?{query}", headers=tenant.headers)
        if response.status_code != 200:
            _refused(response, query[:80])


HOSTILE_HEADERS = (
    [{"X-com-zoho-expense-organizationid": "1" * 5000}, {"X-com-zoho-expense-organizationid": "-1"},
     {"X-com-zoho-expense-organizationid": "1 OR 1=1"}, {"Authorization": "Zoho-oauthtoken " + "a" * 10_000},
     {"Authorization": "Zoho-oauthtoken 1000.\u00e9"}, {"If-Match": "\u00e9" * 100}, {"Idempotency-Key": "\u00e9"}]
)  # fmt: skip


def test_hostile_headers_are_4xx(client: Any, tenant: Tenant) -> None:
    for headers in HOSTILE_HEADERS:
        encoded = {**tenant.headers, **{k: v.encode() for k, v in headers.items()}}
        _refused(client.put(f"{CONTACTS}/1", json={"notes": "x"}, headers=encoded), headers)
        _refused(client.post(CONTACTS, json={"contact_name": ""}, headers=encoded), headers)
    assert _count(client, tenant) == 0


# ---- form bodies whose bytes are not text -------------------------------------------------------------------
# The framework's multipart parser decodes each field in its charset and lets the error escape: every place that
# reads a form must turn that into a refusal (it had been a 500 on creates, updates, OAuth and the console).

BOUNDARY = "zzb"


def _multipart(name: str, value: bytes, part_type: str = "") -> bytes:
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n'.encode()
    if part_type:
        head += f"Content-Type: {part_type}\r\n".encode()
    return head + b"\r\n" + value + f"\r\n--{BOUNDARY}--\r\n".encode()


UNREADABLE_PARTS = {
    "invalid UTF-8": ("", b'{"contact_name":"A\xffB"}'),
    "an unknown charset": ("text/plain; charset=bogus", b'{"contact_name":"A"}'),
}
MULTIPART = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}


@pytest.mark.parametrize("case", sorted(UNREADABLE_PARTS))
def test_unreadable_multipart_json_string_is_refused(client: Any, tenant: Tenant, case: str) -> None:
    part_type, value = UNREADABLE_PARTS[case]
    body = _multipart("JSONString", value, part_type)
    contact = make_contact(client, tenant)
    url = f"{CONTACTS}/{contact['contact_id']}"
    books = f"/books/v3/contacts?organization_id={tenant.organization_id}"
    for method, path, headers in [
        ("POST", CONTACTS, tenant.headers),
        ("PUT", url, tenant.headers),
        ("POST", f"{url}/address", tenant.headers),
        ("POST", books, {"Authorization": tenant.headers["Authorization"]}),
        ("POST", CONTACTS, {**tenant.headers, "Idempotency-Key": "k-" + case.replace(" ", "-")}),
    ]:
        response = client.request(method, path, content=body, headers={**headers, **MULTIPART})
        _refused(response, (case, method, path))
        assert response.json()["code"] == 1038, response.json()
    assert _count(client, tenant) == 1
    assert client.get(url, headers=tenant.headers).json()["contact"] == contact


@pytest.mark.parametrize("case", sorted(UNREADABLE_PARTS))
@pytest.mark.parametrize("path", ["/oauth/v2/token", "/oauth/v2/token/revoke"])
def test_unreadable_oauth_form_is_invalid_request(client: Any, case: str, path: str) -> None:
    part_type, value = UNREADABLE_PARTS[case]
    response = client.post(path, content=_multipart("grant_type", value, part_type), headers=MULTIPART)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request"}


def test_oauth_multipart_without_a_boundary_is_invalid_request(client: Any) -> None:
    response = client.post("/oauth/v2/token", content=b"x", headers={"content-type": "multipart/form-data"})
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request"}


@pytest.mark.parametrize("case", sorted(UNREADABLE_PARTS))
def test_unreadable_console_sign_in_form_is_refused(client: Any, case: str) -> None:
    part_type, value = UNREADABLE_PARTS[case]
    response = client.post(
        "/console/signin", content=_multipart("token", value, part_type), headers=MULTIPART
    )
    assert 400 <= response.status_code < 500, response.text[:300]


# ---- a client that goes away mid-body --------------------------------------------------------------------------


def test_a_client_gone_before_its_body_is_a_client_error(
    client: Any, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    """The body never arrives (http.disconnect): a 400 in the metrics and the access log, not a 500 logged as an
    unhandled error with its trace, on the fast path and the framework's path alike; nothing is written."""
    import logging

    async def call(path: str, query: bytes, headers: list[tuple[bytes, bytes]]) -> list[Any]:
        sent: list[Any] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.disconnect"}

        async def send(message: Any) -> None:
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query,
                 "root_path": "", "headers": headers, "client": ("127.0.0.1", 1), "server": ("testserver", 80)}  # fmt: skip
        await client.app(scope, receive, send)
        return sent

    auth = (b"authorization", tenant.headers["Authorization"].encode())
    body = [(b"content-type", b"application/json"), (b"content-length", b"100"), (b"host", b"testserver")]
    org = tenant.organization_id
    cases = [
        ([auth, (b"x-com-zoho-expense-organizationid", org.encode()), *body], b""),  # the fast path
        ([auth, *body], f"organization_id={org}".encode()),  # the framework's
    ]
    with caplog.at_level(logging.INFO, logger="zcontacts"):
        for headers, query in cases:
            sent = client.blocking_portal.call(call, CONTACTS, query, headers)
            assert sent[0]["status"] == 400, sent
            assert json.loads(sent[1]["body"]) == {
                "code": 2,
                "message": "The client closed the connection before the request body arrived.",
            }
    assert "unhandled error" not in caplog.text
    assert _count(client, tenant) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            b'{"contact_name":"A","contact_persons":[{"first_name":"x\\u0000"}]}',
            "contact_persons[0].first_name",
        ),
        (b'{"contact_name":"A","notes":"\\u0000"}', "notes"),
        (b'{"contact_name":"A","zz":{"deep":["\\u0000"]}}', "zz.deep[0]"),
    ],
)
def test_a_nul_is_refused_naming_its_field(client: Any, tenant: Tenant, body: bytes, field: str) -> None:
    response = client.post(CONTACTS, content=body, headers={**tenant.headers, **JSON})
    _refused(response)
    assert (
        response.json()["message"]
        == f"Invalid value passed for {field}: strings must not contain NUL characters."
    )
