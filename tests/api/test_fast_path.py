"""The hot reads served before the framework (api/fast_path.py) answer exactly as the framework does: two apps
on one database, one with the fast path and one without, get the same requests; every response pair must agree
in status, body and headers (the request id aside), and so must their metrics."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from litestar.testing import TestClient

from tests.helpers import CONTACTS, Tenant, make_contact, make_tenant, token_for
from zcontacts.app import create_app
from zcontacts.config import Settings
from zcontacts.domain.scopes import FULL_ACCESS
from zcontacts.domain.tokens import token_hash
from zcontacts.domain.zoho_time import now_ms
from zcontacts.storage.database import Database
from zcontacts.storage.tokens import TokensRepo

Pair = tuple[TestClient[Any], TestClient[Any]]


def _apps(database_url: str, **settings: Any) -> Iterator[Pair]:
    base = Settings(
        **{"database_url": database_url, "token_cache_seconds": 0, "auto_migrate": False, **settings}
    )
    fast_app = create_app(base)
    framework_app = create_app(replace(base, fast_path=False))
    with TestClient(app=fast_app) as fast, TestClient(app=framework_app) as framework:
        yield fast, framework


@pytest.fixture
def pair(database_url: str) -> Iterator[Pair]:
    """The fast app and the framework-only app, rate limit off."""
    yield from _apps(database_url, rate_limit_per_minute=0)


def _served_fast(client: TestClient[Any]) -> list[int]:
    """Statuses the fast path answered itself (a spy on its `answer`)."""
    fast = client.app.asgi_handler.fast  # type: ignore[attr-defined]
    answered: list[int] = []
    original = fast.answer

    async def spy(scope: Any, receive: Any) -> Any:
        answer = await original(scope, receive)
        if answer is not None:
            answered.append(answer[0])
        return answer

    fast.answer = spy
    return answered


def _comparable(response: Any) -> tuple[int, bytes, list[tuple[str, str]]]:
    headers = sorted(
        (name, ", ".join(sorted(value.split(", "))) if name == "allow" else value)  # a set, in any order
        for name, value in ((k.lower(), v) for k, v in response.headers.multi_items())
        if name != "x-request-id"
    )
    return response.status_code, response.content, headers


def _same(pair: Pair, method: str, url: str, headers: Any = None) -> tuple[int, bytes]:
    fast, framework = pair
    one = fast.request(method, url, headers=headers)
    other = framework.request(method, url, headers=headers)
    assert _comparable(one) == _comparable(other), (method, url, headers)
    assert re.fullmatch(r"[0-9a-f]{32}", one.headers["x-request-id"])
    return one.status_code, one.content


def test_the_common_case_is_answered_by_the_fast_path(pair: Pair, database: Database) -> None:
    tenant = make_tenant(database)
    contact = make_contact(pair[0], tenant, contact_persons=[{"first_name": "Ann", "email": "a@x.io"}])
    answered = _served_fast(pair[0])
    for prefix in ("/expense/v1", "/books/v3"):
        status, body = _same(pair, "GET", f"{prefix}/contacts/{contact['contact_id']}", tenant.headers)
        assert status == 200
        assert b'"contact_name":"Kenny Digital"' in body
    status, _ = _same(pair, "GET", f"{CONTACTS}/{int(contact['contact_id']) + 999}", tenant.headers)
    assert status == 404
    assert answered == [200, 200, 404]


def test_lists_are_answered_by_the_fast_path(pair: Pair, database: Database) -> None:
    tenant = make_tenant(database)
    for index in range(7):
        make_contact(
            pair[1],
            tenant,
            contact_name=f"Customer {index}",
            company_name=f"Company {index % 2}",
            contact_persons=[{"first_name": "Ann", "email": f"ann{index}@x.io"}],
        )
    answered = _served_fast(pair[0])
    before = (_request_counts(pair[0]), _request_counts(pair[1]))
    queries = [
        "",
        "?per_page=3&page=2",
        "?company_name=Company%201&sort_column=contact_name&sort_order=D",
        "?search_text=customer%203",
        "?filter_by=Status.Active&email_contains=ann",
        "?contact_name_startswith=cust&per_page=2&page=9",
        "?page=1&page=2",  # repeated parameters: as the framework reads them
        "?organization_id=1",  # the header wins
        "?per_page=0",  # 400 after the count: answered here
        "?sort_column=nope",
        "?unknown=1",
    ]
    statuses = []
    for prefix in ("/expense/v1", "/books/v3"):
        for query in queries:
            statuses.append(_same(pair, "GET", f"{prefix}/contacts{query}", tenant.headers)[0])
    assert statuses.count(200) >= 14
    assert 400 in statuses
    assert answered == statuses
    assert _request_counts(pair[0]) - before[0] == _request_counts(pair[1]) - before[1]


def test_etag_follows_writes_through_either_path(pair: Pair, database: Database) -> None:
    tenant = make_tenant(database)
    contact_id = make_contact(pair[0], tenant)["contact_id"]
    url = f"{CONTACTS}/{contact_id}"
    first = pair[0].get(url, headers=tenant.headers).headers["etag"]
    assert pair[1].put(url, json={"company_name": "Zylker"}, headers=tenant.headers).status_code == 200
    _, body = _same(pair, "GET", url, tenant.headers)
    assert b'"company_name":"Zylker"' in body
    assert pair[0].get(url, headers=tenant.headers).headers["etag"] != first


def test_every_other_case_answers_as_the_framework_does(pair: Pair, database: Database) -> None:
    tenant = make_tenant(database)
    stranger = make_tenant(database, name="Other")
    contact_id = make_contact(pair[0], tenant)["contact_id"]
    theirs = make_contact(pair[0], stranger)["contact_id"]
    create_only = token_for(database, tenant, ["ZohoExpense.contacts.CREATE"])
    expired = token_for(database, tenant, [FULL_ACCESS], expires_in=-10)
    revoked = token_for(database, tenant, [FULL_ACCESS])
    assert database.run(lambda c: TokensRepo(c).revoke(token_hash(revoked.token), now_ms()), write=True)
    auth = tenant.headers["Authorization"]
    org = tenant.organization_id
    url = f"{CONTACTS}/{contact_id}"
    answered = _served_fast(pair[0])
    cases: list[tuple[str, str, Any]] = [
        ("GET", f"{CONTACTS}/{theirs}", tenant.headers),  # another organization's customer: 404
        ("GET", url, stranger.headers),  # a token of another organization
        ("GET", url, create_only.headers),  # no read scope
        ("GET", url, expired.headers),
        ("GET", url, revoked.headers),
        ("GET", url, {"X-com-zoho-expense-organizationid": org}),  # no token
        ("GET", url, {"Authorization": "Basic abc", "X-com-zoho-expense-organizationid": org}),
        (
            "GET",
            url,
            {"Authorization": "Zoho-oauthtoken 1000.nope", "X-com-zoho-expense-organizationid": org},
        ),
        ("GET", url, {"Authorization": auth}),  # no organization
        ("GET", url, {"Authorization": auth, "X-com-zoho-expense-organizationid": "  "}),
        ("GET", url, {"Authorization": auth, "X-com-zoho-expense-organizationid": f" {org} "}),
        ("GET", url, {"Authorization": auth, "X-com-zoho-expense-organizationid": stranger.organization_id}),
        ("GET", f"{url}?organization_id={org}", {"Authorization": auth}),  # Books-style organization
        ("GET", f"{url}?organization_id=1", tenant.headers),  # the header wins
        ("GET", f"{url}?page=2", tenant.headers),  # ignored parameters
        ("GET", f"{url}/", tenant.headers),
        ("GET", f"{CONTACTS}/0{contact_id}", tenant.headers),
        ("GET", f"{CONTACTS}/{'9' * 19}", tenant.headers),
        ("GET", f"{CONTACTS}/{'9' * 20}", tenant.headers),
        ("GET", f"{CONTACTS}/abc", tenant.headers),
        ("GET", f"{CONTACTS}/%C2%B2", tenant.headers),
        ("GET", f"{CONTACTS}/contactpersons", tenant.headers),
        ("HEAD", url, tenant.headers),
        ("DELETE", f"{CONTACTS}/{'9' * 18}", tenant.headers),
        (
            "GET",
            url,
            [("Authorization", auth), ("Authorization", auth), ("X-com-zoho-expense-organizationid", org)],
        ),
        ("GET", url, [*tenant.headers.items(), ("X-com-zoho-expense-organizationid", "1")]),
    ]
    before = (_request_counts(pair[0]), _request_counts(pair[1]))
    statuses = [_same(pair, method, target, headers)[0] for method, target, headers in cases]
    assert statuses[:8] == [404, 404, 401, 401, 401, 401, 401, 401]
    assert statuses[14:17] == [200, 200, 200]  # ignored parameters, a trailing slash, a leading zero
    assert all(status == 200 or 400 <= status < 500 for status in statuses), statuses
    # The fast path answered only well-formed requests of the token's own organization.
    assert answered
    assert set(answered) <= {200, 404}
    assert len(answered) < len(cases) // 2
    # Both apps counted the same requests under the same labels.
    assert _request_counts(pair[0]) - before[0] == _request_counts(pair[1]) - before[1]


def _request_counts(client: TestClient[Any]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("http_requests_total{") and "/metrics" not in line:
            labels, count = line.rsplit(" ", 1)
            counts[labels] = int(count)
    return counts


@pytest.mark.backends("sqlite")
def test_rate_limit_counts_once_and_refuses_alike(database_url: str, database: Database) -> None:
    tenant = make_tenant(database)
    for fast, framework in _apps(database_url, rate_limit_per_minute=3):
        contact_id = make_contact(framework, tenant)["contact_id"]
        framework.get("/healthz")
        url = f"{CONTACTS}/{contact_id}"
        fast.post(
            CONTACTS, json={"contact_name": "Spent one"}, headers=tenant.headers
        )  # a write spends one too
        seen = []
        for _ in range(4):
            one, other = fast.get(url, headers=tenant.headers), framework.get(url, headers=tenant.headers)
            assert (one.status_code, one.content) == (other.status_code, other.content)
            for name in ("x-rate-limit-limit", "x-rate-limit-remaining", "retry-after"):
                assert one.headers.get(name) == other.headers.get(name), name
            seen.append((one.status_code, one.headers["x-rate-limit-remaining"]))
        assert seen == [(200, "1"), (200, "0"), (429, "0"), (429, "0")]


def test_an_exhausted_pool_is_a_503_on_both_paths(database_url: str, database: Database) -> None:
    tenant = make_tenant(database)
    apps = _apps(
        database_url,
        rate_limit_per_minute=0,
        token_cache_seconds=60,  # the grant is cached: the fast path reaches the read itself
        pool_size=1,
        max_overflow=0,
        pool_timeout=0.2,
    )
    for pair in apps:
        contact_id = make_contact(pair[0], tenant)["contact_id"]
        urls = [CONTACTS, f"{CONTACTS}/{contact_id}"]
        for url in urls:
            assert [client.get(url, headers=tenant.headers).status_code for client in pair] == [200, 200]
        held = [client.app.state.database.engine.connect() for client in pair]  # each pool's only connection
        try:
            answered = _served_fast(pair[0])
            statuses = [_same(pair, "GET", url, tenant.headers)[0] for url in urls]
        finally:
            for connection in held:
                connection.close()
        # PostgreSQL reads through the pool: 503 with Retry-After; SQLite's hot reads have their own connection.
        assert statuses == ([503, 503] if database_url.startswith("postgresql") else [200, 200])
        assert answered == statuses


def test_fast_path_off_by_setting(database_url: str, database: Database) -> None:
    tenant: Tenant = make_tenant(database)
    app = create_app(Settings(database_url=database_url, auto_migrate=False, fast_path=False))
    assert app.asgi_handler.fast is None  # type: ignore[attr-defined]
    assert Settings.from_env({"ZCONTACTS_FAST_PATH": "false"}).fast_path is False
    assert Settings.from_env({}).fast_path is True
    with TestClient(app=app) as client:
        contact_id = make_contact(client, tenant)["contact_id"]
        assert client.get(f"{CONTACTS}/{contact_id}", headers=tenant.headers).status_code == 200
