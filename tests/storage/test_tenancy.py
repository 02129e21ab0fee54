"""Ready for sharding by organization: every statement the API runs against a tenant table names the
organization (in its WHERE clause, or among the columns it inserts), so each can be routed to one shard.
organizations and tokens are the shared (reference) tables; the SQLite FTS table is SQLite's alone."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from litestar.testing import TestClient
from sqlalchemy import event

from tests.helpers import CONTACTS, Tenant
from zcontacts.app import create_app
from zcontacts.config import Settings
from zcontacts.storage.tables import metadata

# Credentials (tokens, OAuth clients and refresh tokens) are looked up by their hash before any organization
# is known: they stay on the shared tables with organizations.
TENANT_TABLES = {name for name, table in metadata.tables.items() if "organization_id" in table.c} - {
    "organizations",
    "tokens",
    "oauth_clients",
    "oauth_refresh_tokens",
}


def _tables_named(statement: str) -> set[str]:
    return {name for name in TENANT_TABLES if re.search(rf"\b{name}\b", statement)}


def test_every_tenant_statement_names_the_organization(database_url: str, tenant: Tenant) -> None:
    assert TENANT_TABLES == {
        "contacts",
        "contact_addresses",
        "contact_persons",
        "contact_custom_fields",
        "contact_history",
        "idempotency_keys",
    }
    app = create_app(Settings(database_url=database_url, token_cache_seconds=0, rate_limit_per_minute=0))
    statements: list[str] = []

    def record_sql(statement: str) -> None:
        statements.append(" ".join(statement.split()))

    @event.listens_for(app.state.database.engine, "before_cursor_execute")
    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        record_sql(statement)

    @event.listens_for(app.state.database.engine, "checkout")
    def trace(dbapi_connection: Any, *_args: Any) -> None:
        # SQLite's hot paths run statements on the driver itself (storage/prepared.py): its trace sees them.
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.set_trace_callback(record_sql)

    with TestClient(app=app) as client:
        auth = tenant.headers
        body = {"contact_name": "Tenant Co", "email": "a@b.co", "contact_persons": [{"first_name": "Ann"}],
                "custom_fields": [{"customfield_id": "1", "value": "x"}], "billing_address": {"city": "Pune"}}  # fmt: skip
        created = client.post(CONTACTS, json=body, headers=auth).json()["contact"]
        url = f"{CONTACTS}/{created['contact_id']}"
        assert client.get(url, headers=auth).status_code == 200
        person = created["contact_persons"][0]["contact_person_id"]
        update = {
            "contact_name": "Tenant Co 2",
            "contact_persons": [{"contact_person_id": person, "last_name": "B"}],
        }
        assert client.put(url, json=update, headers=auth).status_code == 200
        # Idempotency keys and If-Match (their statements are checked too).
        keyed = {
            **auth,
            "Idempotency-Key": "tenancy-1",
            "If-Match": client.get(url, headers=auth).headers["etag"],
        }
        assert client.put(url, json={"notes": "n"}, headers=keyed).status_code == 200
        assert client.put(url, json={"notes": "n"}, headers=keyed).status_code == 200  # replayed
        assert client.post(CONTACTS, json={"contact_name": "tenant co 2"}, headers=auth).status_code == 400
        # The sub-resources: persons, addresses, status, history.
        added = client.post(f"{CONTACTS}/contactpersons", json={"contact_id": created["contact_id"], "first_name": "Bo"},
                            headers=auth).json()["contact_person"]  # fmt: skip
        assert (
            client.post(
                f"{CONTACTS}/contactpersons/{added['contact_person_id']}/primary", headers=auth
            ).status_code
            == 200
        )
        assert (
            client.delete(f"{CONTACTS}/contactpersons/{added['contact_person_id']}", headers=auth).status_code
            == 200
        )
        assert client.post(f"{url}/address", json={"city": "Goa"}, headers=auth).status_code == 201
        assert client.post(f"{url}/inactive", headers=auth).status_code == 200
        assert client.get(f"{url}/comments", headers=auth).status_code == 200
        assert client.get(f"{url}/address", headers=auth).status_code == 200
        for params in ({}, {"search_text": "ten"}, {"email_contains": "b.c"}, {"contact_name_startswith": "t"},
                       {"company_name": "x", "sort_column": "created_time", "sort_order": "D"}):  # fmt: skip
            assert client.get(CONTACTS, params=params, headers=auth).status_code == 200
        assert client.delete(url, headers=auth).status_code == 200

    checked = 0
    for statement in statements:
        tables = _tables_named(statement)
        # "-- …" lines are SQLite's own sub-statements (FTS5 content reads, triggers), not the API's.
        if not tables or statement.startswith(("PRAGMA", "SAVEPOINT", "RELEASE", "--")):
            continue
        checked += 1
        if statement.startswith("INSERT"):
            columns = statement.split("VALUES")[0]
            assert "organization_id" in columns, statement
        else:
            where = statement.split(" WHERE ", 1)
            assert len(where) == 2, statement
            assert "organization_id" in where[1], statement
    assert checked >= 15, statements
