"""Clients written for Zoho, end to end against a real server: the OAuth dance with a token expiring
mid-session, and a Books-style flow."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import Server, zcontacts

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(
        database_url=f"sqlite:///{tmp_path / 'zcontacts.db'}",
        workdir=tmp_path,
        env={"ZCONTACTS_ACCESS_TOKEN_SECONDS": "2"},
    ).start()
    yield running
    running.stop()


class ZohoStyleClient:
    """What a Zoho SDK does: keep an access token, and on 401 code 57 refresh it once and retry."""

    def __init__(
        self, base: str, organization_id: str, client_id: str, client_secret: str, grant_code: str
    ) -> None:
        self.http = httpx.Client(base_url=base, timeout=60)
        self.organization_id = organization_id
        self.client = {"client_id": client_id, "client_secret": client_secret}
        tokens = self._token({"grant_type": "authorization_code", "code": grant_code, "redirect_uri": "x"})
        self.access_token, self.refresh_token = tokens["access_token"], tokens["refresh_token"]
        self.refreshes = 0

    def _token(self, params: dict[str, str]) -> dict[str, str]:
        response = self.http.post("/oauth/v2/token", params={**params, **self.client})
        assert response.status_code == 200, response.text
        body: dict[str, str] = response.json()
        return body

    def call(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        for attempt in range(2):
            headers = {"Authorization": f"Zoho-oauthtoken {self.access_token}",
                       "X-com-zoho-expense-organizationid": self.organization_id}  # fmt: skip
            response = self.http.request(method, path, headers=headers, **kwargs)  # type: ignore[arg-type]
            if response.status_code == 401 and response.json()["code"] == 57 and attempt == 0:
                self.access_token = self._token(
                    {"grant_type": "refresh_token", "refresh_token": self.refresh_token}
                )["access_token"]
                self.refreshes += 1
                continue
            return response
        raise AssertionError("unreachable")


def test_oauth_dance_with_expiry_mid_session(server: Server) -> None:
    organization_id, _ = server.credentials()
    created = json.loads(zcontacts("clients", "create", "--org", organization_id, "--name", "CI",
                                   database_url=server.database_url).stdout)  # fmt: skip
    assert set(created) >= {"client_id", "client_secret", "grant_code"}
    sdk = ZohoStyleClient(
        server.url, organization_id, created["client_id"], created["client_secret"], created["grant_code"]
    )
    first = sdk.call("POST", "/expense/v1/contacts", json={"contact_name": "Before expiry"})
    assert first.status_code == 201
    time.sleep(2.5)  # the access token expires (ZCONTACTS_ACCESS_TOKEN_SECONDS=2)
    second = sdk.call("POST", "/expense/v1/contacts", json={"contact_name": "After expiry"})
    assert second.status_code == 201, second.text
    assert sdk.refreshes == 1
    names = [c["contact_name"] for c in sdk.call("GET", "/expense/v1/contacts").json()["customers"]]
    assert names == ["After expiry", "Before expiry"]
    revoked = httpx.post(f"{server.url}/oauth/v2/token/revoke", params={"token": sdk.refresh_token})
    assert revoked.status_code == 200
    time.sleep(1.1)  # token lookups are trusted for a second
    after = httpx.get(f"{server.url}/expense/v1/contacts", headers={
        "Authorization": f"Zoho-oauthtoken {sdk.access_token}", "X-com-zoho-expense-organizationid": organization_id})  # fmt: skip
    assert (after.status_code, after.json()["code"]) == (401, 57)


def test_books_style_client_flow(server: Server) -> None:
    organization_id, token = server.credentials()
    books = httpx.Client(base_url=f"{server.url}/books/v3", params={"organization_id": organization_id},
                         headers={"Authorization": f"Zoho-oauthtoken {token}"}, timeout=60)  # fmt: skip
    created = books.post("/contacts", json={"contact_name": "Bookish Ltd", "billing_address": {"city": "Leeds"},
                                            "contact_persons": [{"first_name": "Ada", "email": "ada@bookish.io"}]})  # fmt: skip
    assert (created.status_code, created.json()["message"]) == (201, "The contact has been created")
    contact = created.json()["contact"]
    contact_id = contact["contact_id"]
    assert contact["email"] == "ada@bookish.io"

    assert (
        books.post(f"/contacts/{contact_id}/inactive").json()["message"]
        == "The contact has been marked as inactive."
    )
    inactive = books.get("/contacts", params={"filter_by": "Status.Inactive"}).json()
    assert [c["contact_id"] for c in inactive["contacts"]] == [contact_id]
    assert (
        books.post(f"/contacts/{contact_id}/active").json()["message"]
        == "The contact has been marked as active."
    )

    billing_id = contact["billing_address"]["address_id"]
    updated = books.put(
        f"/contacts/{contact_id}/address/{billing_id}", json={"street2": "Floor 2", "zip": "LS1"}
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["address_info"]["street2"] == "Floor 2"
    assert books.get(f"/contacts/{contact_id}").json()["contact"]["billing_address"]["zip"] == "LS1"

    person = books.post("/contacts/contactpersons", json={"contact_id": contact_id, "first_name": "Bob",
                                                          "is_primary_contact": True}).json()["contact_person"]  # fmt: skip
    assert (
        books.get(f"/contacts/{contact_id}").json()["contact"]["primary_contact_id"]
        == person["contact_person_id"]
    )
    saved = books.put(f"/contacts/{contact_id}", json={"website": "bookish.io"})
    assert saved.json()["message"] == "Contact has been updated successfully"
    history = books.get(f"/contacts/{contact_id}/comments").json()["contact_comments"]
    assert len(history) == 6
    assert books.delete(f"/contacts/{contact_id}").json() == {
        "code": 0,
        "message": "The contact has been deleted.",
    }
    kept = zcontacts("history", contact_id, "--org", organization_id, database_url=server.database_url).stdout
    assert [json.loads(line)["operation_type"] for line in kept.splitlines()][:2] == ["deleted", "updated"]
