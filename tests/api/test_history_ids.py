"""History entries' ids (comment_id): unique, newest first in the order the writes committed, and shared with
no contact, address or person. On SQLite they count up from ids.HISTORY_ID_START (one past the table's last),
so an update or delete draws nothing from id_sequences."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from tests.helpers import CONTACTS, Tenant, make_contact
from zcontacts.app import create_app
from zcontacts.config import Settings
from zcontacts.storage import ids
from zcontacts.storage.database import Database


def _comment_ids(client: Any, tenant: Tenant, contact_id: str) -> list[int]:
    response = client.get(f"{CONTACTS}/{contact_id}/comments", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return [int(entry["comment_id"]) for entry in response.json()["contact_comments"]]


def _sequence(database: Database) -> int:
    rows = database.run(
        lambda c: c.exec_driver_sql("SELECT next_value FROM id_sequences WHERE name = 'ids'").all(),
        write=False,
    )
    return int(rows[0][0])


@pytest.fixture
def second_client(database_url: str) -> Iterator[TestClient[Any]]:
    """Another app on the same database (another process's writes, as far as the database can tell)."""
    settings = Settings(
        database_url=database_url, token_cache_seconds=0, rate_limit_per_minute=0, auto_migrate=False
    )
    with TestClient(app=create_app(settings)) as other:
        yield other


def test_ids_follow_the_commits_of_two_apps(
    client: Any, second_client: Any, tenant: Tenant, database: Database, database_url: str
) -> None:
    contact = make_contact(client, tenant, contact_name="Shared")
    url = f"{CONTACTS}/{contact['contact_id']}"
    for i in range(6):
        writer = client if i % 2 else second_client
        response = writer.put(url, json={"notes": f"note {i}"}, headers=tenant.headers)
        assert response.status_code == 200, response.text
    found = _comment_ids(client, tenant, contact["contact_id"])
    assert len(found) == 7
    assert found == sorted(found, reverse=True)  # newest first, and each later write's id is larger
    assert len(set(found)) == 7
    if database_url.startswith("sqlite"):
        assert min(found) >= ids.HISTORY_ID_START
        # Updates draw nothing from the sequence: a create after them takes the ids right after its own.
        before = _sequence(database)
        client.put(url, json={"notes": "once more"}, headers=tenant.headers)
        assert _sequence(database) == before


@pytest.mark.backends("sqlite")  # PostgreSQL draws history ids from its sequence
def test_sqlite_ids_continue_past_entries_drawn_from_the_sequence(
    client: Any, tenant: Tenant, database: Database
) -> None:
    contact = make_contact(client, tenant, contact_name="Older")
    (created,) = _comment_ids(client, tenant, contact["contact_id"])
    # An entry as a database written before HISTORY_ID_START kept it: an id from the contacts' range.
    older = ids.CONTACT_ID_START + 10**9
    database.run(
        lambda c: c.exec_driver_sql(
            "UPDATE contact_history SET history_id = ? WHERE history_id = ?", (older, created)
        ),
        write=True,
    )
    url = f"{CONTACTS}/{contact['contact_id']}"
    assert client.put(url, json={"notes": "new"}, headers=tenant.headers).status_code == 200
    assert client.delete(url, headers=tenant.headers).status_code == 200
    other = make_contact(client, tenant, contact_name="Next")
    rows = database.run(
        lambda c: c.exec_driver_sql(
            "SELECT history_id FROM contact_history WHERE contact_id IN (?, ?) ORDER BY history_id",
            (int(contact["contact_id"]), int(other["contact_id"])),
        ).all(),
        write=False,
    )
    assert [r[0] for r in rows] == [older] + [ids.HISTORY_ID_START + i for i in range(3)]
