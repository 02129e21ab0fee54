"""Concurrent writes to one contact: none is lost, the result is consistent (rows agree with the record), and
with one shared If-Match exactly one writer wins while the others get 412."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from litestar.testing import TestClient

from tests.helpers import CONTACTS, Tenant, make_contact
from zcontacts.app import create_app
from zcontacts.config import Settings
from zcontacts.storage.consistency import check_contacts
from zcontacts.storage.database import Database

WRITERS = 12


def _race(count: int, send: Callable[[int], Any]) -> list[Any]:
    """Run `send(n)` for n in range(count) at once, from as many threads; their responses in n order."""
    barrier = threading.Barrier(count)
    replies: list[Any] = [None] * count

    def run(n: int) -> None:
        barrier.wait()
        replies[n] = send(n)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return replies


def _app(database_url: str) -> Any:
    return create_app(
        Settings(
            database_url=database_url, token_cache_seconds=0, rate_limit_per_minute=0, auto_migrate=False
        )
    )


def test_concurrent_updates_lose_nothing_and_stay_consistent(
    database_url: str, database: Database, tenant: Tenant
) -> None:
    with TestClient(app=_app(database_url)) as client:
        contact = make_contact(
            client,
            tenant,
            contact_persons=[{"first_name": "Keep", "is_primary_contact": True}],
            billing_address={"city": "Pune"},
        )
        url = f"{CONTACTS}/{contact['contact_id']}"
        keep = contact["contact_persons"][0]["contact_person_id"]

        def update(n: int) -> Any:
            body = {
                "contact_persons": [
                    {"first_name": f"Writer {n}", "email": f"w{n}@example.com"},
                    {"contact_person_id": keep, "last_name": f"by {n}"},
                ],
                "billing_address": {"zip": f"Z{n}"},
                "shipping_address": {"city": f"City {n}"},
                "custom_fields": [{"customfield_id": str(n), "value": n}],
            }
            return client.put(url, json=body, headers=tenant.headers)

        replies = _race(WRITERS, update)
        assert [reply.status_code for reply in replies] == [200] * WRITERS
        final = client.get(url, headers=tenant.headers).json()["contact"]
        # Every writer's added person and custom field is there: no update was lost.
        names = {p["first_name"] for p in final["contact_persons"]}
        assert names == {"Keep", *(f"Writer {n}" for n in range(WRITERS))}
        assert {f["customfield_id"] for f in final["custom_fields"]} == {str(n) for n in range(WRITERS)}
        # Fields every writer set hold one writer's value, the same writer's for the whole of each update.
        last = final["billing_address"]["zip"][1:]
        assert final["shipping_address"]["city"] == f"City {last}"
        assert (
            next(p for p in final["contact_persons"] if p["contact_person_id"] == keep)["last_name"]
            == f"by {last}"
        )
        assert sum(p["is_primary_contact"] for p in final["contact_persons"]) == 1
        history = client.get(f"{url}/comments", headers=tenant.headers).json()["contact_comments"]
        assert len(history) == WRITERS + 1
    assert database.run(check_contacts, write=False) == []


def test_one_if_match_lets_exactly_one_concurrent_writer_win(
    database_url: str, database: Database, tenant: Tenant
) -> None:
    with TestClient(app=_app(database_url)) as client:
        contact = make_contact(client, tenant)
        url = f"{CONTACTS}/{contact['contact_id']}"
        etag = client.get(url, headers=tenant.headers).headers["etag"]

        def update(n: int) -> Any:
            body = {"notes": f"writer {n}", "contact_persons": [{"first_name": f"P{n}"}]}
            return client.put(url, json=body, headers={**tenant.headers, "If-Match": etag})

        replies = _race(WRITERS, update)
        statuses = sorted(reply.status_code for reply in replies)
        assert statuses == [200] + [412] * (WRITERS - 1)
        winner = next(n for n, reply in enumerate(replies) if reply.status_code == 200)
        final = client.get(url, headers=tenant.headers).json()["contact"]
        assert final["notes"] == f"writer {winner}"
        assert [p["first_name"] for p in final["contact_persons"]] == [f"P{winner}"]
    assert database.run(check_contacts, write=False) == []


def test_concurrent_deletes_of_one_contact_delete_it_once(
    database_url: str, database: Database, tenant: Tenant
) -> None:
    from zcontacts.storage.contacts import ContactsRepo

    with TestClient(app=_app(database_url)) as client:
        contact = make_contact(client, tenant)
        url = f"{CONTACTS}/{contact['contact_id']}"
        replies = _race(WRITERS, lambda n: client.delete(url, headers=tenant.headers))
        assert sorted(reply.status_code for reply in replies) == [200] + [404] * (WRITERS - 1)
    history = database.run(
        lambda c: ContactsRepo(c).history(tenant.organization_id, contact["contact_id"], limit=50, offset=0),
        write=False,
    )
    assert history is not None
    assert [row.operation for row in history] == ["deleted", "created"]
