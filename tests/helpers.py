"""Keyword factories and fixtures read from the reference page, shared by the tests."""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from zcontacts.cli import create_organization, create_token
from zcontacts.domain.scopes import FULL_ACCESS
from zcontacts.storage.contacts import sqlite_page
from zcontacts.storage.database import Database, Reader

REFERENCE = Path(__file__).resolve().parent / "conformance" / "zoho-expense-customers-api.txt"
CONTACTS = "/expense/v1/contacts"


@dataclass(frozen=True)
class Tenant:
    """An organization and a token for it."""

    organization_id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        """The two headers every Zoho call sends."""
        return {
            "Authorization": f"Zoho-oauthtoken {self.token}",
            "X-com-zoho-expense-organizationid": self.organization_id,
        }


def make_tenant(
    database: Database,
    *,
    name: str = "Acme",
    scopes: list[str] | None = None,
    currency_code: str = "USD",
    time_zone: str = "Asia/Kolkata",
    expires_in: int | None = None,
) -> Tenant:
    """A new organization with a token holding `scopes` (full access by default)."""
    org = create_organization(database, name, currency_code, time_zone)
    token = create_token(database, org.organization_id, scopes or [FULL_ACCESS], expires_in)
    return Tenant(org.organization_id, token)


def token_for(database: Database, tenant: Tenant, scopes: list[str], expires_in: int | None = None) -> Tenant:
    """Another token of the same organization."""
    return Tenant(tenant.organization_id, create_token(database, tenant.organization_id, scopes, expires_in))


def make_contact(client: Any, tenant: Tenant, **fields: Any) -> dict[str, Any]:
    """Create a customer through the API and return its `contact` object."""
    body = {"contact_name": "Kenny Digital", **fields}
    response = client.post(CONTACTS, json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    contact: dict[str, Any] = response.json()["contact"]
    return contact


def varied_bodies(count: int, seed: int) -> list[dict[str, Any]]:
    """`count` customers' bodies with few distinct names, companies, emails and phones (many ties)."""
    rng = random.Random(seed)
    return [
        {
            "contact_name": f"{rng.choice(['Zed', 'Ann', 'Mo'])} {n:02d}",
            "first_name": rng.choice(["Ivan", "Ivana", "Ada", "Bo"]),
            "last_name": rng.choice(["Kim", "Kimura", "Patel"]),
            "company_name": rng.choice(["Acme", "Initech", "Inflate"]),
            "email": f"{rng.choice(['a', 'b'])}{n % 3}@corp.com",
            "phone": f"555-01{n % 4:02d}",
        }
        for n in range(count)
    ]


def churned(
    client: Any,
    tenant: Tenant,
    database: Database,
    bodies: list[dict[str, Any]],
    renames: list[dict[str, Any]],
    marking: str,
) -> list[str]:
    """Customers made from `bodies`, then `marking` (SQL over the contacts table: statuses, times) run, the first
    six deleted and the next ones updated with `renames`' bodies: the stale index entries, and the queue not yet
    in the index, that searches must see through. Returns the ids of those left. A marking spreads its values
    by SQLite's `rowid` (1, 2, 3, … in the order the customers were made), not by contact_id, whose spacing
    follows how many ids each create draws."""
    ids = [make_contact(client, tenant, **body)["contact_id"] for body in bodies]
    database.run(lambda connection: connection.exec_driver_sql(marking), write=True)
    for contact_id in ids[:6]:
        assert client.delete(f"{CONTACTS}/{contact_id}", headers=tenant.headers).status_code == 200
    for contact_id, body in zip(ids[6:], renames, strict=False):
        assert client.put(f"{CONTACTS}/{contact_id}", json=body, headers=tenant.headers).status_code == 200
    return ids[6:]


def assert_error(response: Any, status: int, code: int, *words: str) -> dict[str, Any]:
    """The response is a Zoho error envelope with this status and code, whose message holds `words`."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "message"}, body
    assert body["code"] == code, body
    for word in words:
        assert word in body["message"], body
    return body


@cache
def reference_examples() -> list[Any]:
    """Every JSON example of the reference page, in page order (the list example without its `{...}` items)."""
    text = REFERENCE.read_text()
    examples: list[Any] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i] == "{":
            depth, block = 0, []
            while True:
                line = lines[i]
                block.append(line)
                depth += line.count("{") - line.count("}")
                i += 1
                if depth == 0:
                    break
            source = re.sub(r",\s*\{\.\.\.\}", "", "\n".join(block))
            examples.append(json.loads(source))
        else:
            i += 1
    return examples


def reference(name: str) -> Any:
    """One example by name: create_request, create_response, list_response, update_request, update_response,
    get_response, delete_response. (The page's attribute example is glued to prose, so its first block found
    is its nested contact person, then its custom field.)"""
    names = [
        "attribute_contact_person",
        "attribute_custom_field",
        "create_request",
        "create_response",
        "list_response",
        "update_request",
        "update_response",
        "get_response",
        "delete_response",
    ]
    return reference_examples()[names.index(name)]


def key_shape(value: Any) -> Any:
    """Keys, their order and nesting, without the values."""
    if isinstance(value, dict):
        return [(key, key_shape(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [key_shape(value[0])] if value else []
    return type(value).__name__


def recorded_statements(monkeypatch: Any) -> list[str]:
    """Every statement the hot readers fetch from now on (Reader.fetch), in order."""
    statements: list[str] = []
    real_fetch = Reader.fetch

    def fetch(self: Reader, sql: str, parameters: Any) -> Any:
        statements.append(sql)
        return real_fetch(self, sql, parameters)

    monkeypatch.setattr(Reader, "fetch", fetch)
    return statements


def listing_page(database: Database, organization_id: str, query: Any) -> list[bytes]:
    """The page a listing's own SQL reads on SQLite (contacts.sqlite_page: the trigram plan, plain OFFSET): what
    every plan of the hot reader must return."""
    sql, parameters = sqlite_page(organization_id, query)
    return [bytes(row[0]) for row in database.fetch(sql, parameters)]
