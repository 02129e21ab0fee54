"""Secrets: tokens, client secrets, grant codes and refresh tokens are stored only as hashes, never appear in a
log line (the access log's query strings included), and no response carries a stack trace."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.helpers import CONTACTS, Tenant
from zcontacts.admin import create_client
from zcontacts.domain.scopes import CONTACT_SCOPES
from zcontacts.redact import RedactSecrets, redact
from zcontacts.storage.contacts import ContactsRepo
from zcontacts.storage.database import Database
from zcontacts.storage.tables import metadata

TOKEN_URL = "/oauth/v2/token"


def _oauth_flow(client: Any, database: Database, tenant: Tenant) -> list[str]:
    """A full OAuth flow with every secret in the query string, as Zoho clients send them; the secrets."""
    made = create_client(database, tenant.organization_id, list(CONTACT_SCOPES), "CI job")
    exchanged = client.post(TOKEN_URL, params={"grant_type": "authorization_code", "client_id": made.client_id,
                                               "client_secret": made.client_secret, "code": made.grant_code})  # fmt: skip
    assert exchanged.status_code == 200, exchanged.text
    tokens = exchanged.json()
    refreshed = client.post(TOKEN_URL, params={"grant_type": "refresh_token", "client_id": made.client_id,
                                               "client_secret": made.client_secret,
                                               "refresh_token": tokens["refresh_token"]})  # fmt: skip
    assert refreshed.status_code == 200
    auth = {"Authorization": f"Zoho-oauthtoken {tokens['access_token']}",
            "X-com-zoho-expense-organizationid": tenant.organization_id}  # fmt: skip
    assert client.post(CONTACTS, json={"contact_name": "Secretive"}, headers=auth).status_code == 201
    wrong = client.post(TOKEN_URL, params={"grant_type": "refresh_token", "client_id": made.client_id,
                                           "client_secret": made.client_secret + "x", "refresh_token": "1000.x"})  # fmt: skip
    assert wrong.status_code in (400, 401)
    assert client.post(f"{TOKEN_URL}/revoke", params={"token": tokens["refresh_token"]}).status_code == 200
    return [
        made.client_secret,
        made.grant_code,
        tokens["access_token"],
        tokens["refresh_token"],
        refreshed.json()["access_token"],
        tenant.token,
    ]


def test_no_secret_is_stored_in_any_table(client: Any, database: Database, tenant: Tenant) -> None:
    secrets = _oauth_flow(client, database, tenant)

    def dump(connection: Any) -> str:
        return repr([connection.execute(table.select()).all() for table in metadata.sorted_tables])

    stored = database.run(dump, write=False)
    for secret in secrets:
        assert secret not in stored
        for part in secret.split(".")[1:]:  # nor any random part of one
            assert part not in stored


def test_no_secret_is_logged(
    client: Any,
    database: Database,
    tenant: Tenant,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = _oauth_flow(client, database, tenant)

    def explode(*_args: Any) -> None:
        raise RuntimeError(f"failure while holding {secrets[2]} and {secrets[5]}")  # token-shaped secrets

    monkeypatch.setattr(ContactsRepo, "get_versioned_doc", explode)
    auth = {"Authorization": f"Zoho-oauthtoken {tenant.token}", "X-com-zoho-expense-organizationid": tenant.organization_id}  # fmt: skip
    failed = client.get(f"{CONTACTS}/46000000000000001", headers=auth)
    assert failed.status_code == 500
    assert failed.json() == {"code": 1000, "message": "Internal error"}  # no trace, no detail
    # The server's records (the test's own httpx client logs the URLs it calls: not the server's doing).
    formatter = logging.Formatter()
    logged = "\n".join(
        formatter.format(r) for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))
    )
    assert "failure while holding" in logged  # the operator still sees what failed
    assert "RuntimeError" in logged  # with its trace, redacted
    for secret in secrets:
        assert secret not in logged


@pytest.mark.parametrize(
    ("line", "kept", "gone"),
    [
        ('127.0.0.1:5 - "POST /oauth/v2/token?grant_type=refresh_token&client_id=1000.AB&client_secret=s3cr3t&refresh_token=1000.abcdef0123456789abcdef0123456789.abcdef0123456789abcdef0123456789 HTTP/1.1" 200',
         ["grant_type=refresh_token", "client_id=1000.AB", "client_secret=***", "HTTP/1.1"], ["s3cr3t", "abcdef0123456789"]),
        ("POST /oauth/v2/token/revoke?token=anything-at-all", ["token=***"], ["anything-at-all"]),
        ("POST /oauth/v2/token?code=1000.9a9a&grant_type=authorization_code", ["grant_type=authorization_code"], ["9a9a"]),
        ("Authorization: Zoho-oauthtoken 1000.0123456789abcdef0123456789abcdef.0123456789abcdef0123456789abcdef",
         ["Zoho-oauthtoken 1000.***"], ["0123456789abcdef"]),
        ("GET /expense/v1/contacts?search_text=code&page=2", ["search_text=code", "page=2"], []),
    ],
)  # fmt: skip
def test_redaction(line: str, kept: list[str], gone: list[str]) -> None:
    redacted = redact(line)
    for text in kept:
        assert text in redacted
    for text in gone:
        assert text not in redacted


def test_the_filter_rewrites_arguments_of_access_log_records() -> None:
    record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s"', ("127.0.0.1", "POST", "/oauth/v2/token?client_secret=abc"), None)  # fmt: skip
    assert RedactSecrets().filter(record)
    assert "abc" not in record.getMessage()
    assert "client_secret=***" in record.getMessage()
