"""Tokens, organizations and scopes: 401 code 57, 400 code 6041, and no data across organizations."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.helpers import CONTACTS, Tenant, assert_error, make_contact, make_tenant, token_for
from zcontacts.api import auth
from zcontacts.domain.tokens import token_hash
from zcontacts.domain.zoho_time import now_ms
from zcontacts.errors import NotAuthorized
from zcontacts.storage.database import Database
from zcontacts.storage.tokens import TokensRepo

UNAUTHORIZED = (401, 57, "You are not authorized to perform this operation")

# operation → (method, needs an existing contact, body, the scopes the reference names plus the other spelling)
OPERATIONS: dict[str, tuple[str, bool, Any, tuple[str, ...]]] = {
    "create": ("POST", False, {"contact_name": "Scoped"}, ("ZohoExpense.contacts.CREATE", "ZohoExpense.customer.CREATE")),
    "list": ("GET", False, None, ("ZohoExpense.customer.READ", "ZohoExpense.contacts.READ")),
    "get": ("GET", True, None, ("ZohoExpense.customer.READ", "ZohoExpense.contacts.READ")),
    "update": ("PUT", True, {"notes": "x"}, ("ZohoExpense.customer.UPDATE", "ZohoExpense.contacts.UPDATE")),
    "delete": ("DELETE", True, None, ("ZohoExpense.contacts.DELETE", "ZohoExpense.customer.DELETE")),
}  # fmt: skip
ALL_NAMED = sorted({scope for *_, scopes in OPERATIONS.values() for scope in scopes})


def _call(
    client: Any, operation: str, tenant: Tenant, contact_id: str, headers: dict[str, str] | None = None
) -> Any:
    method, by_id, body, _ = OPERATIONS[operation]
    url = f"{CONTACTS}/{contact_id}" if by_id else CONTACTS
    return client.request(method, url, json=body, headers=tenant.headers if headers is None else headers)


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("scope", [*ALL_NAMED, "ZohoExpense.fullaccess.all", "ZohoExpense.contacts.ALL"])
def test_scope_matrix(client: Any, database: Database, tenant: Tenant, operation: str, scope: str) -> None:
    contact = make_contact(client, tenant)
    scoped = token_for(database, tenant, [scope])
    response = _call(client, operation, scoped, contact["contact_id"])
    allowed = scope in OPERATIONS[operation][3] or scope.endswith((".all", ".ALL"))
    if allowed:
        assert response.status_code in (200, 201), response.text
    else:
        assert_error(response, *UNAUTHORIZED)


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize(
    "authorization",
    [None, "", "Zoho-oauthtoken", "Zoho-oauthtoken ", "Basic abc", "Zoho-oauthtoken 1000.unknown.token",
     "Zoho-oauthtoken two words", "Zoho-oauthtoken " + "x" * 600],
)  # fmt: skip
def test_bad_tokens_are_401(client: Any, tenant: Tenant, operation: str, authorization: str | None) -> None:
    contact = make_contact(client, tenant)
    headers = {"X-com-zoho-expense-organizationid": tenant.organization_id}
    if authorization is not None:
        headers["Authorization"] = authorization
    assert_error(_call(client, operation, tenant, contact["contact_id"], headers), *UNAUTHORIZED)


def test_expired_token_is_401(client: Any, database: Database, tenant: Tenant) -> None:
    expired = token_for(database, tenant, ["ZohoExpense.fullaccess.all"], expires_in=1)
    database.run(lambda c: c.exec_driver_sql("UPDATE tokens SET expires_at_ms = 1"), write=True)
    assert_error(client.get(CONTACTS, headers=expired.headers), *UNAUTHORIZED)


def test_revoked_token_is_401(client: Any, database: Database, tenant: Tenant) -> None:
    assert client.get(CONTACTS, headers=tenant.headers).status_code == 200
    assert database.run(lambda c: TokensRepo(c).revoke(token_hash(tenant.token), now_ms()), write=True)
    assert_error(client.get(CONTACTS, headers=tenant.headers), *UNAUTHORIZED)


def test_bearer_scheme_is_accepted_too(client: Any, tenant: Tenant) -> None:
    headers = {**tenant.headers, "Authorization": f"Bearer {tenant.token}"}
    assert client.get(CONTACTS, headers=headers).status_code == 200


def test_missing_organization_is_400(client: Any, tenant: Tenant) -> None:
    headers = {"Authorization": tenant.headers["Authorization"]}
    assert_error(client.get(CONTACTS, headers=headers), 400, 2, "X-com-zoho-expense-organizationid",
                 "X-com-zoho-books-organizationid", "organization_id query parameter")  # fmt: skip


def test_organization_as_query_parameter(client: Any, tenant: Tenant) -> None:
    headers = {"Authorization": tenant.headers["Authorization"]}
    response = client.get(CONTACTS, params={"organization_id": tenant.organization_id}, headers=headers)
    assert response.status_code == 200


@pytest.mark.parametrize("organization_id", ["999999", "abc", "10234695 OR 1=1"])
def test_unknown_organization_is_6041(client: Any, tenant: Tenant, organization_id: str) -> None:
    headers = {**tenant.headers, "X-com-zoho-expense-organizationid": organization_id}
    assert_error(
        client.get(CONTACTS, headers=headers),
        400,
        6041,
        f"This user is not associated with the CompanyID/CompanyName:{organization_id}.",
    )


@pytest.mark.parametrize("operation", OPERATIONS)
def test_organizations_never_see_each_other(
    client: Any, database: Database, tenant: Tenant, operation: str
) -> None:
    other = make_tenant(database, name="Other")
    theirs = make_contact(client, other, contact_name="Theirs")
    mine = make_contact(client, tenant, contact_name="Mine")
    # My token addressed at their organization: refused before anything is read.
    crossed = {**tenant.headers, "X-com-zoho-expense-organizationid": other.organization_id}
    assert_error(_call(client, operation, tenant, theirs["contact_id"], crossed), 400, 6041)
    # My token, my organization, their contact id: it does not exist for me.
    response = _call(client, operation, tenant, theirs["contact_id"])
    if OPERATIONS[operation][1]:
        assert_error(response, 404, 1002)
    listed = client.get(CONTACTS, headers=tenant.headers).json()["customers"]
    assert theirs["contact_id"] not in {c["contact_id"] for c in listed}
    assert client.get(f"{CONTACTS}/{theirs['contact_id']}", headers=other.headers).json()["contact"] == theirs
    assert mine["contact_id"] != theirs["contact_id"]


def test_the_same_name_may_exist_in_two_organizations(
    client: Any, database: Database, tenant: Tenant
) -> None:
    other = make_tenant(database, name="Other")
    make_contact(client, tenant, contact_name="Shared Name")
    make_contact(client, other, contact_name="Shared Name")


def test_tokens_are_stored_only_as_hashes(database: Database, tenant: Tenant) -> None:
    def dump(connection: Any) -> str:
        rows = connection.exec_driver_sql("SELECT * FROM tokens").all()
        return repr(rows)

    stored = database.run(dump, write=False)
    assert tenant.token not in stored
    assert tenant.token.split(".")[1] not in stored
    assert token_hash(tenant.token) in stored


class _CountingDatabase:
    """Stands in for Database.read in GrantCache: answers every lookup with the current grant, counting."""

    def __init__(self) -> None:
        self.grant: object | None = "grant"
        self.reads = 0

    async def read(self, work: Any) -> object | None:
        self.reads += 1
        return self.grant


def test_the_header_memo_is_trusted_no_longer_than_the_lookup_it_came_from(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """GrantCache.for_header skips parsing and hashing a known Authorization header, but a revocation is still
    seen within the ttl: a memo made from an older lookup expires with that lookup."""
    clock = [100.0]
    monkeypatch.setattr(auth.time, "monotonic", lambda: clock[0])
    database = _CountingDatabase()
    cache = auth.GrantCache(database, ttl=1.0)  # type: ignore[arg-type]
    header = "Zoho-oauthtoken 1000.abc.def"

    async def scenario() -> None:
        assert await cache.get(token_hash("1000.abc.def")) == "grant"  # looked up at t=100
        clock[0] = 100.9
        assert await cache.for_header(header) == "grant"  # memo made from the t=100 lookup
        assert await cache.for_header("Bearer 1000.abc.def") == "grant"
        assert database.reads == 1
        database.grant = None  # revoked
        clock[0] = 101.05  # past the first lookup's ttl, not past the memo's creation + ttl
        assert await cache.for_header(header) is None
        assert database.reads == 2
        for malformed in (None, "", "Basic abc", "Zoho-oauthtoken two words"):
            with pytest.raises(NotAuthorized):
                await cache.for_header(malformed)
        cache.forget()
        database.grant = "again"
        assert await cache.for_header(header) == "again"

    asyncio.run(scenario())


def test_books_clients_organization_header(client: Any, tenant: Tenant) -> None:
    """Zoho Books clients name the organization in X-com-zoho-books-organizationid: taken like Expense's."""
    books = {
        "Authorization": tenant.headers["Authorization"],
        "X-com-zoho-books-organizationid": tenant.organization_id,
    }
    created = client.post("/books/v3/contacts", json={"contact_name": "Books Header"}, headers=books)
    assert created.status_code == 201, created.text
    listed = client.get("/books/v3/contacts", headers=books).json()["contacts"]
    assert [c["contact_name"] for c in listed] == ["Books Header"]
    other = {**books, "X-com-zoho-books-organizationid": "999"}
    assert client.get("/books/v3/contacts", headers=other).json()["code"] == 6041
