"""The three writes served before the framework (api/fast_path.py) answer exactly as the framework does. Two
twin SQLite databases (one a copy of the other, so ids come out alike), one app with the fast path and one
without, get the same requests in the same order; every response pair must agree in status, body and headers
(the request id aside, and times, which are each app's own clock), the databases must end up alike, and the
metrics too."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from tests.api.test_fast_path import _comparable as comparable
from tests.api.test_fast_path import _request_counts, _served_fast
from tests.helpers import CONTACTS, Tenant, make_tenant, token_for
from zcontacts.app import create_app
from zcontacts.config import Settings
from zcontacts.storage.consistency import check_contacts
from zcontacts.storage.database import Database

pytestmark = pytest.mark.backends("sqlite")

Twins = tuple[TestClient[Any], TestClient[Any]]
_TIME = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}")


@pytest.fixture
def tenant_and_twins(database_url: str, tmp_path: Path) -> Iterator[tuple[Tenant, Tenant, Twins]]:
    """A tenant, a read-only token of it, and the twin apps."""
    database = Database.from_url(database_url)
    tenant = make_tenant(database)
    read_only = token_for(database, tenant, ["ZohoExpense.customer.READ"])
    database.dispose()
    twin = tmp_path / "twin.db"
    shutil.copyfile(database_url.removeprefix("sqlite:///"), twin)
    base = {"token_cache_seconds": 0, "rate_limit_per_minute": 0, "auto_migrate": False}
    fast_app = create_app(Settings(database_url=database_url, **base))
    framework_app = create_app(Settings(database_url=f"sqlite:///{twin}", fast_path=False, **base))
    with TestClient(app=fast_app) as fast, TestClient(app=framework_app) as framework:
        yield tenant, read_only, (fast, framework)


def _comparable(response: Any) -> tuple[int, bytes, list[tuple[str, str]]]:
    status, content, headers = comparable(response)
    return status, _TIME.sub(b"<time>", content), headers


def _same(twins: Twins, method: str, url: str, headers: Any, body: bytes | None = None) -> int:
    fast, framework = twins
    one = fast.request(method, url, headers=headers, content=body)
    other = framework.request(method, url, headers=headers, content=body)
    assert _comparable(one) == _comparable(other), (method, url, headers, body)
    return one.status_code


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def test_writes_answer_as_the_framework_does(tenant_and_twins: tuple[Tenant, Tenant, Twins]) -> None:
    tenant, read_only, twins = tenant_and_twins
    json_headers = {**tenant.headers, "Content-Type": "application/json"}
    first_body = _json(
        {"contact_name": "First", "contact_persons": [{"first_name": "Ann", "email": "a@x.io"}]}
    )
    assert _same(twins, "POST", CONTACTS, json_headers, first_body) == 201
    created = twins[0].get(f"{CONTACTS}?contact_name=first", headers=tenant.headers).json()["customers"][0]
    first = created["contact_id"]
    url = f"{CONTACTS}/{first}"
    etag = twins[0].get(url, headers=tenant.headers).headers["etag"]
    full = {
        "contact_name": "Kenny Digital",
        "company_name": "Kenny Co",
        "billing_address": {"address": "1 Main St", "city": "Austin", "zip": "73301"},
        "contact_persons": [
            {"first_name": "Kenny", "last_name": "D", "email": "k@kenny.io", "is_primary_contact": True},
            {"first_name": "Lee", "email": "lee@kenny.io"},
        ],
        "custom_fields": [{"customfield_id": "7", "value": "gold"}],
    }
    cases: list[tuple[str, str, Any, bytes | None]] = [
        ("POST", CONTACTS, json_headers, _json(full)),  # 201, fast
        ("POST", CONTACTS, json_headers, _json(full)),  # the name is taken: 400 after the count
        (
            "POST",
            CONTACTS,
            {**tenant.headers, "Content-Type": "application/json; charset=utf-8"},
            _json({"contact_name": "Charset"}),
        ),
        ("POST", CONTACTS, tenant.headers, _json({"contact_name": "No content type"})),
        ("POST", CONTACTS, json_headers, b"{not json"),
        ("POST", CONTACTS, json_headers, b""),
        ("POST", CONTACTS, json_headers, _json({"contact_name": 5})),
        ("POST", CONTACTS, json_headers, _json({"company_name": "no name"})),
        ("POST", CONTACTS, json_headers, b'{"contact_name": "nul \\u0000"}'),
        ("POST", CONTACTS, {**tenant.headers, "Content-Type": "text/plain"}, _json({"contact_name": "Text"})),
        (
            "POST",
            CONTACTS,
            {**tenant.headers, "Content-Type": "application/x-www-form-urlencoded"},
            b"JSONString=" + _json({"contact_name": "Form"}),
        ),
        ("POST", CONTACTS, {**json_headers, "Idempotency-Key": "k-1"}, _json({"contact_name": "Keyed"})),
        ("POST", CONTACTS, {**json_headers, "Idempotency-Key": "k-1"}, _json({"contact_name": "Keyed"})),
        ("POST", CONTACTS, json_headers, _json({"contact_name": "x" * (1024 * 1024)})),  # 413
        ("POST", "/books/v3/contacts", json_headers, _json({"contact_name": "Books"})),
        ("POST", CONTACTS, read_only.headers, _json({"contact_name": "No scope"})),
        (
            "POST",
            CONTACTS,
            {"X-com-zoho-expense-organizationid": tenant.organization_id},
            _json({"contact_name": "No token"}),
        ),
        ("POST", url, json_headers, _json({"contact_name": "On an id"})),  # 405
        ("PUT", CONTACTS, json_headers, _json({"notes": "on the collection"})),  # 405
        ("PUT", url, json_headers, _json({"notes": "updated", "billing_address": {"zip": "1"}})),
        ("PUT", url, {**json_headers, "If-Match": etag}, _json({"notes": "stale"})),  # 412
        ("PUT", url, {**json_headers, "If-Match": "*"}, _json({"notes": "any"})),
        ("PUT", url, json_headers, _json({"contact_name": "Kenny Digital"})),  # taken by another
        ("PUT", url, json_headers, _json({"contact_persons": "nope"})),
        ("PUT", f"{CONTACTS}/{int(first) + 999}", json_headers, _json({"notes": "none"})),  # 404
        ("PUT", f"{CONTACTS}/abc", json_headers, _json({"notes": "none"})),
        ("PUT", "/books/v3/contacts/" + first, json_headers, _json({"website": "books.example"})),
        ("DELETE", url, {**tenant.headers, "If-Match": etag}, None),  # 412
        ("DELETE", url, read_only.headers, None),  # 401
        ("DELETE", url, tenant.headers, b"ignored"),
        ("DELETE", url, tenant.headers, None),  # 404 now
        ("DELETE", CONTACTS, tenant.headers, None),  # 405
        # A repeated header the fast path reads: the framework's reading of it (the values joined: 415).
        (
            "POST",
            CONTACTS,
            [*json_headers.items(), ("Content-Type", "application/json")],
            _json({"contact_name": "Twice typed"}),
        ),
    ]
    before = (_request_counts(twins[0]), _request_counts(twins[1]))
    answered = _served_fast(twins[0])
    statuses = [_same(twins, method, target, headers, body) for method, target, headers, body in cases]
    assert statuses[:10] == [201, 400, 201, 201, 400, 400, 400, 400, 400, 415]
    assert statuses[10:16] == [201, 201, 201, 413, 201, 401]
    assert statuses[17:19] == [405, 405]
    assert statuses[19:22] == [200, 412, 200]
    assert statuses[24:27] == [404, 404, 200]
    assert statuses[27:] == [412, 401, 200, 404, 405, 415]  # a repeated Content-Type is no JSON type
    # The fast path took every plain write, and nothing else.
    # Handed on: an empty body (its JSON may be in the query), text, a form, keys, 413, 401s, 405s, "abc", a
    # repeated header.
    handed_on = {5, 9, 10, 11, 12, 13, 15, 16, 17, 18, 25, 28, 31, 32}
    assert answered == [status for i, status in enumerate(statuses) if i not in handed_on]
    assert _request_counts(twins[0]) - before[0] == _request_counts(twins[1]) - before[1]
    # The two databases hold the same customers, whole.
    listed = [_TIME.sub(b"", client.get(CONTACTS, headers=tenant.headers).content) for client in twins]
    assert listed[0] == listed[1]
    assert b"Kenny Digital" in listed[0]
    assert b"Books" in listed[0]
    for client in twins:
        database: Database = client.app.state.database
        assert database.run(lambda c: check_contacts(c, tenant.organization_id), write=False) == []
