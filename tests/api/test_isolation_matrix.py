"""The isolation matrix: every operation of the contact surface (both prefixes) × foreign resource ids ×
foreign organization × foreign token × missing scope × no token. Every cell must refuse (or, for calls that
name no resource, answer only the caller's own data), never show the other organization's data, and never
change it. The test counts leaks and requires 0."""

from __future__ import annotations

import re
from typing import Any

from litestar.routes import HTTPRoute

from tests.helpers import CONTACTS, Tenant, make_contact, make_tenant, token_for
from zcontacts.api.context import MOUNTS, ROUTED
from zcontacts.domain.scopes import Access
from zcontacts.storage.database import Database

MARK = "SECRETOFTHEIRS"
BODY = {
    "contact_id": "0",  # replaced by the target contact's id
    "contact_name": "Intruder",
    "first_name": "Intruder",
    "city": "Intruder",
    "notes": "Intruder",
}
# A scope that grants nothing the operation needs.
WRONG_SCOPE = {
    Access.READ: "ZohoExpense.contacts.CREATE",
    Access.CREATE: "ZohoExpense.customer.READ",
    Access.UPDATE: "ZohoExpense.customer.READ",
    Access.DELETE: "ZohoExpense.customer.UPDATE",
}


def _operations(app: Any) -> list[tuple[str, str, Access]]:
    """(method, path template, access) of every contact-surface route, under every prefix (the app routes
    /books/v3 as its /expense/v1 twin)."""
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            access = handler.opt.get("access")
            if access is None:
                continue
            assert route.path.startswith(ROUTED), route.path
            for method in handler.http_methods:
                for mount in MOUNTS:
                    found.append((method, mount + route.path[len(ROUTED) :], access))
    return sorted(found, key=lambda op: (op[1], op[0]))


def _full_contact(client: Any, tenant: Tenant, mark: str) -> dict[str, str]:
    contact = make_contact(
        client,
        tenant,
        contact_name=f"{mark} Co",
        notes=mark,
        contact_persons=[
            {"first_name": f"{mark} Person", "email": f"{mark.lower()}@example.com"},
            {"first_name": "Two"},
        ],
        billing_address={"city": f"{mark} City"},
    )
    url = f"{CONTACTS}/{contact['contact_id']}"
    address = client.post(f"{url}/address", json={"city": f"{mark} Extra"}, headers=tenant.headers).json()
    return {
        "contact_id": contact["contact_id"],
        "contact_person_id": contact["contact_persons"][1]["contact_person_id"],
        "address_id": address["address_info"]["address_id"],
    }


def _snapshot(client: Any, tenant: Tenant, ids: dict[str, str]) -> list[Any]:
    url = f"{CONTACTS}/{ids['contact_id']}"
    return [
        client.get(url, headers=tenant.headers).json(),
        client.get(f"{url}/address", headers=tenant.headers).json(),
        client.get(f"{url}/contactpersons", headers=tenant.headers).json(),
        client.get(f"{url}/comments", headers=tenant.headers).json(),
        client.get(CONTACTS, headers=tenant.headers).json(),
    ]


def _url(template: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+):\w+\}", lambda m: ids[m.group(1)], template)


def test_no_operation_leaks_across_organizations(client: Any, database: Database, tenant: Tenant) -> None:
    theirs = make_tenant(database, name="Theirs")
    mine_ids = _full_contact(client, tenant, "Mine")
    their_ids = _full_contact(client, theirs, MARK)
    before = _snapshot(client, theirs, their_ids)
    operations = _operations(client.app)
    assert len(operations) >= 40  # both prefixes, the whole contact surface

    leaks: list[str] = []
    cells = 0

    def cell(
        label: str, method: str, url: str, headers: dict[str, str], ids: dict[str, str], *, expect: set[int]
    ) -> None:
        nonlocal cells
        cells += 1
        body = {**BODY, "contact_id": ids["contact_id"]}
        response = client.request(
            method, url, json=body if method in ("POST", "PUT") else None, headers=headers
        )
        if MARK in response.text or MARK.lower() in response.text:
            leaks.append(f"{label} {method} {url}: their data in the reply")
        if response.status_code not in expect:
            leaks.append(f"{label} {method} {url}: {response.status_code} {response.text[:120]}")
        elif response.status_code >= 400 and set(response.json()) != {"code", "message"}:
            leaks.append(f"{label} {method} {url}: not a Zoho error body")

    for method, template, access in operations:
        names_resource = "{" in template or template.endswith("/contactpersons")
        # 1. My token and organization, their ids: nothing of theirs exists for me.
        # (A create names nothing of theirs: it makes a contact of mine, or is a duplicate name the second time.)
        expect_foreign = {400, 404} if names_resource else {200, 201, 400}
        cell(
            "foreign ids", method, _url(template, their_ids), tenant.headers, their_ids, expect=expect_foreign
        )
        # 2. My token addressed at their organization.
        crossed = {**tenant.headers, "X-com-zoho-expense-organizationid": theirs.organization_id}
        cell("foreign organization", method, _url(template, their_ids), crossed, their_ids, expect={400})
        # 3. Their token addressed at my organization, on my ids.
        foreign_token = {**theirs.headers, "X-com-zoho-expense-organizationid": tenant.organization_id}
        cell("foreign token", method, _url(template, mine_ids), foreign_token, mine_ids, expect={400})
        # 4. Their own organization and ids, with a token of theirs lacking the scope.
        scoped = token_for(database, theirs, [WRONG_SCOPE[access]]).headers
        cell("missing scope", method, _url(template, their_ids), scoped, their_ids, expect={401})
        # 5. No token at all.
        bare = {"X-com-zoho-expense-organizationid": theirs.organization_id}
        cell("no token", method, _url(template, their_ids), bare, their_ids, expect={401})

    if _snapshot(client, theirs, their_ids) != before:
        leaks.append("their contact, persons, addresses, history or list changed")
    assert cells == 5 * len(operations)
    assert leaks == [], "\n".join(leaks)
