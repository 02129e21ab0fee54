"""ETag on GET, If-Match on PUT and DELETE: a stale tag is a 412 and changes nothing; no If-Match, no change in
behaviour. The /books/v3 paths share the controllers and are checked too."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.helpers import CONTACTS, Tenant, assert_error, make_contact

BOOKS = "/books/v3/contacts"


def _etag(client: Any, tenant: Tenant, url: str) -> str:
    response = client.get(url, headers=tenant.headers)
    assert response.status_code == 200, response.text
    etag: str = response.headers["etag"]
    return etag


@pytest.mark.parametrize("base", [CONTACTS, BOOKS])
def test_etag_changes_with_every_write_and_if_match_guards_put(
    client: Any, tenant: Tenant, base: str
) -> None:
    contact = make_contact(client, tenant)
    url = f"{base}/{contact['contact_id']}"
    first = _etag(client, tenant, url)
    assert re.fullmatch(r'"\d+-\d+"', first)
    assert _etag(client, tenant, url) == first  # stable while nothing changes

    saved = client.put(url, json={"notes": "one"}, headers={**tenant.headers, "If-Match": first})
    assert saved.status_code == 200, saved.text
    second = _etag(client, tenant, url)
    assert second != first
    assert saved.headers["etag"] == second

    stale = client.put(url, json={"notes": "two"}, headers={**tenant.headers, "If-Match": first})
    assert_error(stale, 412, 2, "If-Match")
    assert client.get(url, headers=tenant.headers).json()["contact"]["notes"] == "one"
    assert _etag(client, tenant, url) == second  # the refusal wrote nothing

    # A rename rewrites the indexed columns (the full UPDATE): its reply carries the new ETag too.
    renamed = client.put(
        url, json={"contact_name": "Renamed"}, headers={**tenant.headers, "If-Match": second}
    )
    assert renamed.status_code == 200, renamed.text
    third = _etag(client, tenant, url)
    assert renamed.headers["etag"] == third
    assert len({first, second, third}) == 3


def test_a_write_through_a_sub_resource_changes_the_etag(client: Any, tenant: Tenant) -> None:
    contact = make_contact(client, tenant)
    url = f"{CONTACTS}/{contact['contact_id']}"
    before = _etag(client, tenant, url)
    added = client.post(f"{url}/address", json={"city": "Goa"}, headers=tenant.headers)
    assert added.status_code == 201
    assert _etag(client, tenant, url) != before
    assert_error(client.put(url, json={"notes": "x"}, headers={**tenant.headers, "If-Match": before}), 412, 2)


@pytest.mark.parametrize("base", [CONTACTS, BOOKS])
def test_if_match_guards_delete(client: Any, tenant: Tenant, base: str) -> None:
    contact = make_contact(client, tenant)
    url = f"{base}/{contact['contact_id']}"
    stale = _etag(client, tenant, url)
    assert client.put(url, json={"notes": "moved on"}, headers=tenant.headers).status_code == 200
    assert_error(client.delete(url, headers={**tenant.headers, "If-Match": stale}), 412, 2)
    assert client.get(url, headers=tenant.headers).status_code == 200
    current = _etag(client, tenant, url)
    assert client.delete(url, headers={**tenant.headers, "If-Match": current}).status_code == 200
    assert_error(client.get(url, headers=tenant.headers), 404, 1002)


IF_MATCH_FORMS = [("*", 200), ('"nope", {current}', 200), ("W/{current}", 412), ('"0-1"', 412), ("", 412),
                  ("{current}x", 412)]  # fmt: skip


def test_if_match_forms(client: Any, tenant: Tenant) -> None:
    for if_match, status in IF_MATCH_FORMS:
        contact = make_contact(client, tenant, contact_name=f"Form {if_match}")
        url = f"{CONTACTS}/{contact['contact_id']}"
        header = if_match.format(current=_etag(client, tenant, url))
        response = client.put(url, json={"notes": "x"}, headers={**tenant.headers, "If-Match": header})
        assert response.status_code == status, (if_match, response.text)
        if status == 412:
            assert_error(response, 412, 2)


def test_if_match_on_an_unknown_contact_is_404(client: Any, tenant: Tenant) -> None:
    url = f"{CONTACTS}/46000000000000999"
    headers = {**tenant.headers, "If-Match": "*"}
    assert_error(client.put(url, json={"notes": "x"}, headers=headers), 404, 1002)
    assert_error(client.delete(url, headers=headers), 404, 1002)


def test_create_answers_the_etag_of_the_new_contact(client: Any, tenant: Tenant) -> None:
    created = client.post(CONTACTS, json={"contact_name": "Tagged"}, headers=tenant.headers)
    assert created.status_code == 201
    url = f"{CONTACTS}/{created.json()['contact']['contact_id']}"
    assert created.headers["etag"] == _etag(client, tenant, url)
