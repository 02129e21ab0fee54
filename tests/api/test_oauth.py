"""/oauth/v2/token like Zoho Accounts: grant codes, refresh tokens, revocation, expiry."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from tests.helpers import CONTACTS, Tenant, assert_error
from zcontacts.admin import SelfClient, create_client, mint_code
from zcontacts.app import create_app
from zcontacts.config import Settings
from zcontacts.domain.scopes import CONTACT_SCOPES
from zcontacts.storage.database import Database

TOKEN_URL = "/oauth/v2/token"


@pytest.fixture
def self_client(database: Database, tenant: Tenant) -> SelfClient:
    return create_client(database, tenant.organization_id, list(CONTACT_SCOPES), "CI job")


def _exchange(client: Any, self_client: SelfClient, **extra: str) -> Any:
    params = {"grant_type": "authorization_code", "client_id": self_client.client_id,
              "client_secret": self_client.client_secret, "code": self_client.grant_code,
              "redirect_uri": "http://localhost/callback", **extra}  # fmt: skip
    return client.post(TOKEN_URL, params=params)


def _auth(access_token: str, organization_id: str) -> dict[str, str]:
    return {
        "Authorization": f"Zoho-oauthtoken {access_token}",
        "X-com-zoho-expense-organizationid": organization_id,
    }


def test_code_exchange_then_refresh(client: Any, self_client: SelfClient) -> None:
    response = _exchange(client, self_client)
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == ["access_token", "refresh_token", "api_domain", "token_type", "expires_in"]
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 3600)
    assert body["api_domain"].startswith("http")
    assert response.headers["cache-control"] == "no-store"
    auth = _auth(body["access_token"], self_client.organization_id)
    assert client.post(CONTACTS, json={"contact_name": "Via OAuth"}, headers=auth).status_code == 201

    for _ in range(2):  # the refresh token stays valid for reuse
        refreshed = client.post(TOKEN_URL, data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"],
                                                 "client_id": self_client.client_id,
                                                 "client_secret": self_client.client_secret})  # fmt: skip
        assert refreshed.status_code == 200, refreshed.text
        assert list(refreshed.json()) == ["access_token", "api_domain", "token_type", "expires_in"]
        new_auth = _auth(refreshed.json()["access_token"], self_client.organization_id)
        assert client.get(CONTACTS, headers=new_auth).status_code == 200


def test_history_names_the_oauth_client(client: Any, self_client: SelfClient) -> None:
    auth = _auth(_exchange(client, self_client).json()["access_token"], self_client.organization_id)
    contact_id = client.post(CONTACTS, json={"contact_name": "Who"}, headers=auth).json()["contact"][
        "contact_id"
    ]
    (entry,) = client.get(f"{CONTACTS}/{contact_id}/comments", headers=auth).json()["contact_comments"]
    assert entry["commented_by"] == f"OAuth client {self_client.client_id}"


def test_a_grant_code_works_once(client: Any, self_client: SelfClient) -> None:
    assert _exchange(client, self_client).status_code == 200
    again = _exchange(client, self_client)
    assert (again.status_code, again.json()) == (400, {"error": "invalid_code"})


@pytest.mark.parametrize(
    ("override", "status", "error"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": "1000.NOPE"}, 401, "invalid_client"),
        ({"code": "1000.bad.code"}, 400, "invalid_code"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"grant_type": ""}, 400, "invalid_request"),
    ],
)
def test_refusals(
    client: Any, self_client: SelfClient, override: dict[str, str], status: int, error: str
) -> None:
    response = _exchange(client, self_client, **override)
    assert (response.status_code, response.json()) == (status, {"error": error})


def test_bad_refresh_token(client: Any, self_client: SelfClient) -> None:
    response = client.post(TOKEN_URL, params={"grant_type": "refresh_token", "refresh_token": "1000.x.y",
                                              "client_id": self_client.client_id,
                                              "client_secret": self_client.client_secret})  # fmt: skip
    assert (response.status_code, response.json()) == (400, {"error": "invalid_code"})


def test_revoking_the_refresh_token_revokes_its_access_tokens(client: Any, self_client: SelfClient) -> None:
    body = _exchange(client, self_client).json()
    auth = _auth(body["access_token"], self_client.organization_id)
    assert client.get(CONTACTS, headers=auth).status_code == 200
    revoked = client.post("/oauth/v2/token/revoke", params={"token": body["refresh_token"]})
    assert revoked.json() == {"status": "success"}
    assert_error(client.get(CONTACTS, headers=auth), 401, 57)
    refreshed = client.post(TOKEN_URL, params={"grant_type": "refresh_token", "refresh_token": body["refresh_token"],
                                               "client_id": self_client.client_id,
                                               "client_secret": self_client.client_secret})  # fmt: skip
    assert refreshed.json() == {"error": "invalid_code"}


def test_codes_carry_scopes(client: Any, database: Database, self_client: SelfClient) -> None:
    code = mint_code(database, self_client.client_id, ["ZohoExpense.customer.READ"])
    body = _exchange(client, self_client, code=code).json()
    auth = _auth(body["access_token"], self_client.organization_id)
    assert client.get(CONTACTS, headers=auth).status_code == 200
    assert_error(client.post(CONTACTS, json={"contact_name": "No"}, headers=auth), 401, 57)
    with pytest.raises(ValueError, match="only these scopes"):
        mint_code(database, self_client.client_id, ["ZohoExpense.fullaccess.all"])


def test_expired_grant_code(client: Any, database: Database, tenant: Tenant) -> None:
    short = create_client(database, tenant.organization_id, list(CONTACT_SCOPES), "short", code_seconds=1)
    time.sleep(1.1)
    assert _exchange(client, short).json() == {"error": "invalid_code"}


@pytest.fixture
def short_lived_client(database_url: str) -> Iterator[TestClient[Any]]:
    app = create_app(Settings(database_url=database_url, token_cache_seconds=0, access_token_seconds=1))
    with TestClient(app=app) as test_client:
        yield test_client


def test_expired_access_token_is_57_and_refresh_recovers(
    short_lived_client: Any, self_client: SelfClient
) -> None:
    body = _exchange(short_lived_client, self_client).json()
    assert body["expires_in"] == 1
    auth = _auth(body["access_token"], self_client.organization_id)
    assert short_lived_client.get(CONTACTS, headers=auth).status_code == 200
    time.sleep(1.1)
    assert_error(short_lived_client.get(CONTACTS, headers=auth), 401, 57)
    refreshed = short_lived_client.post(TOKEN_URL, params={"grant_type": "refresh_token",
                                                           "refresh_token": body["refresh_token"],
                                                           "client_id": self_client.client_id,
                                                           "client_secret": self_client.client_secret})  # fmt: skip
    auth = _auth(refreshed.json()["access_token"], self_client.organization_id)
    assert short_lived_client.get(CONTACTS, headers=auth).status_code == 200


def test_client_secrets_are_stored_only_as_hashes(database: Database, self_client: SelfClient) -> None:
    dump = database.run(lambda c: repr(c.exec_driver_sql("SELECT * FROM oauth_clients").all()
                                       + c.exec_driver_sql("SELECT * FROM oauth_grant_codes").all()), write=False)  # fmt: skip
    assert self_client.client_secret not in dump
    assert self_client.grant_code not in dump


def test_revoking_an_access_token(client: Any, self_client: SelfClient) -> None:
    body = _exchange(client, self_client).json()
    auth = _auth(body["access_token"], self_client.organization_id)
    assert client.post("/oauth/v2/token/revoke", data={"token": body["access_token"]}).json() == {
        "status": "success"
    }
    assert_error(client.get(CONTACTS, headers=auth), 401, 57)
    assert client.post("/oauth/v2/token/revoke").status_code == 400


def test_api_domain_is_the_configured_address_not_the_host_header(
    client: Any, database_url: str, self_client: SelfClient, database: Database, tenant: Tenant
) -> None:
    """Clients send their later calls to api_domain: by default the address the request came to; with
    ZCONTACTS_PUBLIC_URL, that address whatever Host header a request carries."""
    assert (
        _exchange(
            client,
            self_client,
        ).json()["api_domain"]
        == "http://testserver.local"
    )
    app = create_app(Settings(database_url=database_url, public_url="https://contacts.example.com/"))
    other = create_client(database, tenant.organization_id, list(CONTACT_SCOPES), "second")
    with TestClient(app=app) as configured:
        body = configured.post(TOKEN_URL, params={"grant_type": "authorization_code", "client_id": other.client_id,
                                                  "client_secret": other.client_secret, "code": other.grant_code},
                               headers={"host": "evil.example"}).json()  # fmt: skip
    assert body["api_domain"] == "https://contacts.example.com"
