"""Idempotency-Key on POST and PUT: a retry replays the first reply (no second write), the same key with a
different request is a 409 with a Zoho body, keys are per organization and forgotten after 24 hours."""

from __future__ import annotations

import threading
from typing import Any

from litestar.testing import TestClient

from tests.helpers import CONTACTS, Tenant, assert_error, make_contact, make_tenant
from zcontacts.api.idempotency import REPLAY_WINDOW_MS
from zcontacts.app import create_app
from zcontacts.config import Settings
from zcontacts.storage.database import Database
from zcontacts.storage.tables import idempotency_keys


def _keyed(tenant: Tenant, key: str) -> dict[str, str]:
    return {**tenant.headers, "Idempotency-Key": key}


def _count(client: Any, tenant: Tenant) -> int:
    return len(client.get(CONTACTS, headers=tenant.headers).json()["customers"])


def _history(client: Any, tenant: Tenant, contact_id: str) -> list[Any]:
    comments: list[Any] = client.get(f"{CONTACTS}/{contact_id}/comments", headers=tenant.headers).json()[
        "contact_comments"
    ]
    return comments


def test_a_retried_create_makes_one_contact_and_replays_the_reply(client: Any, tenant: Tenant) -> None:
    body = {"contact_name": "Once Only", "contact_persons": [{"first_name": "Ann", "email": "a@b.co"}]}
    first = client.post(CONTACTS, json=body, headers=_keyed(tenant, "create-1"))
    assert first.status_code == 201, first.text
    again = client.post(CONTACTS, json=body, headers=_keyed(tenant, "create-1"))
    assert again.status_code == 201
    assert again.content == first.content  # byte for byte, same ids
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["etag"] == first.headers["etag"]  # the first reply's headers too
    assert _count(client, tenant) == 1
    # Without the key the same body is a new request: a duplicate name here, so refused.
    assert_error(client.post(CONTACTS, json=body, headers=tenant.headers), 400, 3062)


def test_a_retried_update_is_applied_once(client: Any, tenant: Tenant) -> None:
    contact = make_contact(client, tenant)
    url = f"{CONTACTS}/{contact['contact_id']}"
    body = {"contact_persons": [{"first_name": "Added"}]}  # not idempotent by itself: adds a person each time
    first = client.put(url, json=body, headers=_keyed(tenant, "put-1"))
    again = client.put(url, json=body, headers=_keyed(tenant, "put-1"))
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    stored = client.get(url, headers=tenant.headers).json()["contact"]
    assert len(stored["contact_persons"]) == 1
    assert len(_history(client, tenant, contact["contact_id"])) == 2  # created, updated once


def test_the_same_key_with_another_request_is_409(client: Any, tenant: Tenant) -> None:
    assert (
        client.post(CONTACTS, json={"contact_name": "First"}, headers=_keyed(tenant, "k")).status_code == 201
    )
    for change in (
        {"json": {"contact_name": "Other Body"}},
        {"path": "/books/v3/contacts"},
        {"params": {"extra": "1"}},
    ):
        request = {"json": {"contact_name": "First"}, "path": CONTACTS, "params": None} | change
        response = client.post(
            request["path"], json=request["json"], params=request["params"], headers=_keyed(tenant, "k")
        )
        assert_error(response, 409, 2, "Idempotency-Key")
    assert _count(client, tenant) == 1


def test_keys_belong_to_one_organization(client: Any, database: Database, tenant: Tenant) -> None:
    other = make_tenant(database, name="Other")
    mine = client.post(CONTACTS, json={"contact_name": "Mine"}, headers=_keyed(tenant, "shared"))
    theirs = client.post(CONTACTS, json={"contact_name": "Theirs"}, headers=_keyed(other, "shared"))
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["contact"]["contact_id"] != theirs.json()["contact"]["contact_id"]
    assert "Mine" not in theirs.text


def test_a_refused_request_stores_no_key(client: Any, tenant: Tenant) -> None:
    assert_error(client.post(CONTACTS, json={"contact_name": ""}, headers=_keyed(tenant, "k2")), 400, 11)
    # The key is still free: a corrected request with it is made (once).
    assert (
        client.post(CONTACTS, json={"contact_name": "Fixed"}, headers=_keyed(tenant, "k2")).status_code == 201
    )
    assert_error(client.post(CONTACTS, json={"contact_name": "Other"}, headers=_keyed(tenant, "k2")), 409, 2)


def test_keys_expire_after_24_hours(client: Any, database: Database, tenant: Tenant) -> None:
    body = {"contact_name": "Yesterday"}
    assert client.post(CONTACTS, json=body, headers=_keyed(tenant, "old")).status_code == 201

    def age(connection: Any) -> None:
        connection.execute(
            idempotency_keys.update().values(
                created_at_ms=idempotency_keys.c.created_at_ms - REPLAY_WINDOW_MS - 1
            )
        )

    database.run(age, write=True)
    # An expired key is a new request: this one makes a second (renamed) contact.
    again = client.post(CONTACTS, json={"contact_name": "Today"}, headers=_keyed(tenant, "old"))
    assert again.status_code == 201
    assert "idempotent-replayed" not in again.headers
    assert _count(client, tenant) == 2


def test_malformed_keys_are_400(client: Any, tenant: Tenant) -> None:
    for key in ("", " ", "x" * 256, "caf\u00e9", "a b"):
        headers = {**tenant.headers, "Idempotency-Key": key.encode()}
        response = client.post(CONTACTS, json={"contact_name": "K"}, headers=headers)
        assert_error(response, 400, 2, "Idempotency-Key")
    assert _count(client, tenant) == 0


def test_concurrent_requests_with_one_key_write_once(database_url: str, tenant: Tenant) -> None:
    """Eight clients race with the same key: one contact, eight identical replies."""
    settings = Settings(
        database_url=database_url, token_cache_seconds=0, rate_limit_per_minute=0, auto_migrate=False
    )
    body = {"contact_name": "Raced", "contact_persons": [{"first_name": "R"}]}
    replies: list[Any] = []
    with TestClient(app=create_app(settings)) as client:
        barrier = threading.Barrier(8)

        def send() -> None:
            barrier.wait()
            replies.append(client.post(CONTACTS, json=body, headers=_keyed(tenant, "race")))

        threads = [threading.Thread(target=send) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert {reply.status_code for reply in replies} == {201}
        assert len({reply.content for reply in replies}) == 1
        assert _count(client, tenant) == 1


def test_sub_resource_creates_and_updates_take_keys_too(client: Any, tenant: Tenant) -> None:
    contact = make_contact(client, tenant)
    url = f"{CONTACTS}/{contact['contact_id']}"
    person = {"contact_id": contact["contact_id"], "first_name": "Once"}
    added = [
        client.post(f"{CONTACTS}/contactpersons", json=person, headers=_keyed(tenant, "p1")) for _ in range(2)
    ]
    assert added[0].status_code == added[1].status_code == 201
    assert added[0].content == added[1].content
    address = [
        client.post(f"{url}/address", json={"city": "Goa"}, headers=_keyed(tenant, "a1")) for _ in range(2)
    ]
    assert address[0].content == address[1].content
    stored = client.get(url, headers=tenant.headers).json()["contact"]
    assert [p["first_name"] for p in stored["contact_persons"]] == ["Once"]
    listed = client.get(f"{url}/address", headers=tenant.headers).json()["addresses"]
    assert sum(a["city"] == "Goa" for a in listed) == 1
    person_id = added[0].json()["contact_person"]["contact_person_id"]
    reused = client.put(
        f"{CONTACTS}/contactpersons/{person_id}", json={"last_name": "X"}, headers=_keyed(tenant, "p1")
    )
    assert_error(reused, 409, 2, "Idempotency-Key")
